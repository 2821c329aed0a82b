#!/usr/bin/env node
// cri.js - one CRI call (runtime.v1, the subset in cri.proto) on a CRI
// endpoint, for shell tests:
//
//   node cri.js [--timeout S] [--field PATH] ENDPOINT METHOD [REQUEST_JSON]
//
// ENDPOINT is a unix socket path (containerd's gRPC socket); METHOD a
// RuntimeService or ImageService method (RunPodSandbox, ExecSync, ...);
// REQUEST_JSON the request with cri.proto's field names (enums by name,
// e.g. {"network": "NODE"}), default {}. Prints the response as JSON (bytes
// as UTF-8 text, 64-bit integers as numbers, enums by name, absent fields
// with their defaults), or with --field a.b.c only that field, raw. A failed
// call prints "cri.js: METHOD: CODE_NAME: message" on stderr and exits 1;
// bad usage exits 2.
//
// Needs @grpc/grpc-js and @grpc/proto-loader (package.json beside this
// file): the test installs them with `npm ci` and sets NODE_PATH.
'use strict';

const path = require('path');

function usage(msg) {
  if (msg) process.stderr.write(`cri.js: ${msg}\n`);
  process.stderr.write(
    'usage: cri.js [--timeout S] [--field PATH] ENDPOINT METHOD [REQUEST_JSON]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { timeout: 120, field: null, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--timeout' || a === '--field') {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      opts[a.slice(2)] = argv[++i];
    } else if (a.startsWith('--')) {
      usage(`unknown option '${a}'`);
    } else {
      opts.rest.push(a);
    }
  }
  if (opts.rest.length < 2 || opts.rest.length > 3) usage();
  opts.timeout = Number(opts.timeout);
  if (!(opts.timeout > 0)) usage('--timeout wants a positive number of seconds');
  return opts;
}

function loadServices(grpc, protoLoader) {
  const def = protoLoader.loadSync(path.join(__dirname, 'cri.proto'), {
    keepCase: true, longs: Number, enums: String, defaults: true, arrays: true,
  });
  return grpc.loadPackageDefinition(def).runtime.v1;
}

// JSON.stringify with Buffers (proto bytes) as text
function show(value) {
  return JSON.stringify(value, (k, v) => {
    if (v && v.type === 'Buffer' && Array.isArray(v.data)) return Buffer.from(v.data).toString();
    return v;
  });
}

function pick(value, dotted) {
  for (const key of dotted.split('.')) {
    if (value === null || value === undefined) return undefined;
    value = Array.isArray(value) && /^\d+$/.test(key) ? value[Number(key)] : value[key];
  }
  return value;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const [endpoint, method, body] = opts.rest;
  let request;
  try {
    request = body === undefined ? {} : JSON.parse(body);
  } catch (e) {
    usage(`REQUEST_JSON: ${e.message}`);
  }
  let grpc, protoLoader;
  try {
    grpc = require('@grpc/grpc-js');
    protoLoader = require('@grpc/proto-loader');
  } catch (e) {
    process.stderr.write(`cri.js: ${e.message}\n(npm ci beside package.json, then NODE_PATH=<that dir>/node_modules)\n`);
    process.exit(2);
  }
  const v1 = loadServices(grpc, protoLoader);
  const service = ['RuntimeService', 'ImageService'].find(s => v1[s].service[method]);
  if (!service) usage(`no method '${method}' in cri.proto`);
  const target = endpoint.startsWith('unix:') ? endpoint : `unix://${path.resolve(endpoint)}`;
  const client = new v1[service](target, grpc.credentials.createInsecure());
  const deadline = new Date(Date.now() + opts.timeout * 1000);
  client[method](request, { deadline }, (err, reply) => {
    client.close();
    if (err) {
      const code = Object.keys(grpc.status).find(k => grpc.status[k] === err.code) || err.code;
      process.stderr.write(`cri.js: ${method}: ${code}: ${err.details || err.message}\n`);
      process.exit(1);
    }
    if (opts.field === null) {
      process.stdout.write(show(reply) + '\n');
      return;
    }
    const v = pick(reply, opts.field);
    if (v === undefined) {
      process.stderr.write(`cri.js: ${method}: the reply has no field '${opts.field}'\n`);
      process.exit(1);
    }
    process.stdout.write(Buffer.isBuffer(v) ? v : typeof v === 'object' ? show(v) + '\n' : `${v}\n`);
  });
}

main();
