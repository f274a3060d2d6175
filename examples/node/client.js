// Enqueue IDs to a modelfleet from Node.js and print the result items, in input order.
//
//   npm ci
//   CELERY_BROKER_URL=redis://host:6379/0 CELERY_RESULT_BACKEND=redis://host:6379/1 \
//     node client.js 0 1 2 17
//
// celery-node speaks Celery's task protocol v2 with JSON bodies, which is what the workers
// accept. Its default queue is "celery": modelfleet's workers listen on "modelfleet".
"use strict";

const celery = require("celery-node");

const PREDICT_BATCH = "modelfleet.predict_batch";
const broker = process.env.CELERY_BROKER_URL || "redis://127.0.0.1:6379/0";
const backend = process.env.CELERY_RESULT_BACKEND || "redis://127.0.0.1:6379/1";
const queue = process.env.MODELFLEET_QUEUE || "modelfleet";
const timeoutMs = Number(process.env.TIMEOUT || "60") * 1000;
// Tasks of at most this many IDs; the workers' limit is MODELFLEET_MAX_BATCH (1,000).
const batchSize = Number(process.env.BATCH_SIZE || "256");

// IDs are JSON integers or strings: send a decimal token as an integer.
function parseId(token) {
  return /^-?\d+$/.test(token) ? Number(token) : token;
}

async function main(argv) {
  const ids = argv.length ? argv.map(parseId) : [0, 1, 2];
  const client = celery.createClient(broker, backend, queue);
  const task = client.createTask(PREDICT_BATCH);
  const results = [];
  for (let i = 0; i < ids.length; i += batchSize) {
    const result = task.applyAsync([ids.slice(i, i + batchSize)]);
    console.error(`task ${result.taskId}`);
    results.push(result);
  }
  let failed = 0;
  try {
    for (const result of results) {
      // Polls the result key every 100 ms; rejects with the task's state on failure.
      const items = await result.get(timeoutMs, 100);
      if (items === undefined) throw new Error(`no result for task ${result.taskId}`);
      for (const item of items) {
        if (item.error) failed += 1;
        console.log(JSON.stringify(item));
      }
    }
  } finally {
    await client.disconnect();
  }
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`modelfleet client: ${err.message} ${JSON.stringify(err.result || "")}`);
    process.exit(2);
  },
);
