// echo_node.js - reference echo server: Node's net module, each socket piped to itself.
// usage: node echo_node.js [PORT [ADDR]]   (PORT 0 picks one; the ready line names it)
'use strict';
const net = require('net');

const port = Number(process.argv[2] || 5150);
const host = process.argv[3] || '127.0.0.1';

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  socket.pipe(socket); // pipe() pauses reading while the write side is full
});
server.listen({ port, host, backlog: 4096 }, () => {
  console.error(`ref-node: listening on ${host}:${server.address().port}`);
});
