"""Records in Redis that workers write and producers read: batch costs, dead letters."""
