#!/usr/bin/env node
// A scripted SMSC for textgate's SMPP tests, built on node-smpp's server (an independent
// SMPP 3.4 implementation that rejects malformed PDUs).
//
//   node server.js --port 0 --control-port 0 [--host 127.0.0.1] [--system-id textgate]
//                  [--password secret] [--receipt-delay-ms 50]
//
// Prints one JSON line {"smpp_port": N, "control_port": M} once both ports listen.
//
// Control API (HTTP, JSON):
//   GET  /submits  every submit_sm received: {"submits": [record, ...]}
//   GET  /stats    counters (binds, submits, receipts, errors, ...)
//   POST /rules    replace the rules (fields below; missing ones take their defaults)
//   POST /drop     destroy every SMPP connection at once
//   POST /reset    forget records, rules, counters and queued receipts
//   POST /inbound  {"from", "to", "text", "encoding"?: "gsm7"|"ucs2"|"latin1"}: send a
//                  non-receipt deliver_sm to a bound receiver; 409 when none is bound.
//                  For one part of a long message, optionally: "udh" (hex, put before
//                  the text, and esm_class gets UDHI), "sar": {"ref", "total", "seq"} (the
//                  sar_* TLVs), "hex" (the text's bytes as they are, instead of "text")
//
// Rules (numbers are given with or without "+"):
//   throttle:         {"<number>": K}     answer ESME_RTHROTTLED to the first K submits to it
//   reject:           {"<number>": code}  answer this command_status (e.g. 11 = ESME_RINVDSTADR)
//   receipt_stat:     {"<number>": stat}  receipt stat for it (default "DELIVRD")
//   receipt_first:    bool   send the receipt before the submit_sm_resp (which follows later)
//   receipt_delay_ms: int    delay between the resp and the receipt (or the reverse)
//   receipt_tlvs:     bool   add receipted_message_id / message_state TLVs (default true)
//   hold:             bool   do not answer submit_sm until hold is set false again
'use strict';

const http = require('http');
const smpp = require('smpp');

// Keep submit_sm payloads as raw bytes so records show exactly what the client sent.
const decodeMessage = smpp.filters.message.decode;
smpp.filters.message.decode = function (value, skipUdh) {
  if (this.command === 'submit_sm') {
    return value;
  }
  return decodeMessage.call(this, value, skipUdh);
};

function parseArgs(argv) {
  const args = {
    host: '127.0.0.1',
    port: 2775,
    controlPort: 0,
    systemId: 'textgate',
    password: 'secret',
    receiptDelayMs: 50,
  };
  const names = {
    '--host': ['host', String],
    '--port': ['port', Number],
    '--control-port': ['controlPort', Number],
    '--system-id': ['systemId', String],
    '--password': ['password', String],
    '--receipt-delay-ms': ['receiptDelayMs', Number],
  };
  for (let i = 2; i < argv.length; i += 2) {
    const spec = names[argv[i]];
    if (!spec || i + 1 >= argv.length) {
      throw new Error(`unknown or incomplete argument: ${argv[i]}`);
    }
    args[spec[0]] = spec[1](argv[i + 1]);
  }
  return args;
}

const args = parseArgs(process.argv);
const STATES = {
  ENROUTE: 1, DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8,
};

function defaultRules() {
  return {
    throttle: {},
    reject: {},
    receipt_stat: {},
    receipt_first: false,
    receipt_delay_ms: args.receiptDelayMs,
    receipt_tlvs: true,
    hold: false,
  };
}

function freshStats() {
  return {
    binds_ok: 0,
    binds_refused: 0,
    submits: 0,
    submit_errors: 0,
    receipts_sent: 0,
    receipts_acked: 0,
    receipts_nacked: 0,
    inbound_sent: 0,
    inbound_acked: 0,
    inbound_nacked: 0,
    enquire_links: 0,
    unbinds: 0,
    drops: 0,
    protocol_errors: 0,
    socket_errors: 0,
  };
}

let rules = defaultRules();
let stats = freshStats();
let records = [];
let throttled = {}; // number -> throttled answers given so far
let held = []; // responses waiting for hold to be lifted
let queuedReceipts = []; // receipts waiting for a receiver to bind
let lastId = 0x10000000;
let lastConnection = 0;
let generation = 0; // bumped by /reset: timers and requeues of an older one do nothing
const connections = new Set();

const digits = (number) => String(number).replace(/^\+/, '');
const ruleFor = (table, number) => table[number] ?? table[`+${number}`];
const canReceive = (conn) => conn.bound === 'bind_transceiver' || conn.bound === 'bind_receiver';
const canSend = (conn) => conn.bound === 'bind_transceiver' || conn.bound === 'bind_transmitter';

function smppDate(date) {
  const p = (n) => String(n).padStart(2, '0');
  return `${p(date.getUTCFullYear() % 100)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}` +
    `${p(date.getUTCHours())}${p(date.getUTCMinutes())}`;
}

function decodeText(dataCoding, bytes) {
  if (dataCoding === 8) {
    return smpp.encodings.UCS2.decode(bytes);
  }
  if (dataCoding === 3) {
    return smpp.encodings.LATIN1.decode(bytes);
  }
  return smpp.encodings.ASCII.decode(bytes); // GSM 03.38, one septet per octet
}

// Split a short_message into its concatenation UDH (8- or 16-bit reference) and the text.
function splitUdh(esmClass, bytes) {
  if (!(esmClass & 0x40) || bytes.length === 0) {
    return { udh: null, body: bytes };
  }
  const end = bytes[0] + 1;
  let udh = { hex: bytes.subarray(0, end).toString('hex') };
  for (let at = 1; at + 1 < end; at += 2 + bytes[at + 1]) {
    if (bytes[at] === 0x00) {
      udh = { ...udh, ref: bytes[at + 2], total: bytes[at + 3], seq: bytes[at + 4] };
    } else if (bytes[at] === 0x08) {
      udh = { ...udh, ref: bytes.readUInt16BE(at + 2), total: bytes[at + 4], seq: bytes[at + 5] };
    }
  }
  return { udh, body: bytes.subarray(end) };
}

function record(conn, pdu) {
  const shortMessage = pdu.short_message || Buffer.alloc(0);
  const payload = pdu.message_payload || null;
  const { udh, body } = splitUdh(pdu.esm_class, payload || shortMessage);
  return {
    at_ms: Date.now(),
    connection: conn.id,
    bind: conn.bound,
    sequence_number: pdu.sequence_number,
    source_addr: pdu.source_addr,
    source_addr_ton: pdu.source_addr_ton,
    source_addr_npi: pdu.source_addr_npi,
    destination_addr: pdu.destination_addr,
    dest_addr_ton: pdu.dest_addr_ton,
    dest_addr_npi: pdu.dest_addr_npi,
    service_type: pdu.service_type,
    esm_class: pdu.esm_class,
    registered_delivery: pdu.registered_delivery,
    data_coding: pdu.data_coding,
    udh,
    short_message: shortMessage.toString('hex'),
    message_payload: payload ? payload.toString('hex') : null,
    text: decodeText(pdu.data_coding, body),
    status: 0,
    message_id: null,
  };
}

function pickReceiver(preferred) {
  if (preferred && connections.has(preferred) && canReceive(preferred)) {
    return preferred;
  }
  for (const conn of connections) {
    if (canReceive(conn)) {
      return conn;
    }
  }
  return null;
}

function receiptPdu(rec) {
  const stat = ruleFor(rules.receipt_stat, rec.destination_addr) || 'DELIVRD';
  const now = smppDate(new Date());
  const err = stat === 'DELIVRD' ? '000' : '001';
  const text = `id:${rec.message_id} sub:001 dlvrd:${stat === 'DELIVRD' ? '001' : '000'} ` +
    `submit date:${now} done date:${now} stat:${stat} err:${err} text:${rec.text.slice(0, 20)}`;
  const fields = {
    source_addr_ton: rec.dest_addr_ton,
    source_addr_npi: rec.dest_addr_npi,
    source_addr: rec.destination_addr,
    dest_addr_ton: rec.source_addr_ton,
    dest_addr_npi: rec.source_addr_npi,
    destination_addr: rec.source_addr,
    esm_class: 0x04,
    data_coding: 0,
    // Receipt text is plain ASCII; a Buffer is sent as it is.
    short_message: Buffer.from(text.replace(/[^\x20-\x7e]/g, '?'), 'ascii'),
  };
  if (rules.receipt_tlvs) {
    fields.receipted_message_id = rec.message_id;
    fields.message_state = STATES[stat] ?? STATES.UNKNOWN;
  }
  return fields;
}

function deliver(conn, fields, onLost) {
  const entry = { fields, onLost };
  conn.unacked.add(entry);
  conn.session.deliver_sm(fields, (resp) => {
    conn.unacked.delete(entry);
    const kind = fields.esm_class & 0x04 ? 'receipts' : 'inbound';
    stats[`${kind}_${resp.command_status === 0 ? 'acked' : 'nacked'}`] += 1;
  });
}

function sendReceipt(rec, preferred) {
  if (rec.generation !== generation) {
    return;
  }
  const conn = pickReceiver(preferred);
  const fields = receiptPdu(rec);
  if (!conn) {
    queuedReceipts.push(fields);
    return;
  }
  stats.receipts_sent += 1;
  deliver(conn, fields, requeue(fields));
}

// A receipt the client never answered goes back in the queue, as a real SMSC retries it.
function requeue(fields) {
  const queuedIn = generation;
  return () => {
    if (queuedIn === generation) {
      queuedReceipts.push(fields);
    }
  };
}

function flushQueuedReceipts(conn) {
  const waiting = queuedReceipts;
  queuedReceipts = [];
  for (const fields of waiting) {
    stats.receipts_sent += 1;
    deliver(conn, fields, requeue(fields));
  }
}

function decideStatus(number) {
  const reject = ruleFor(rules.reject, number);
  if (reject) {
    return Number(reject);
  }
  const limit = ruleFor(rules.throttle, number) || 0;
  if ((throttled[number] || 0) < limit) {
    throttled[number] = (throttled[number] || 0) + 1;
    return smpp.ESME_RTHROTTLED;
  }
  return 0;
}

function onSubmit(conn, pdu) {
  const session = conn.session;
  if (!canSend(conn)) {
    session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
    return;
  }
  stats.submits += 1;
  const rec = record(conn, pdu);
  rec.generation = generation;
  records.push(rec);
  const answer = () => {
    const status = decideStatus(rec.destination_addr);
    if (status !== 0) {
      stats.submit_errors += 1;
      rec.status = status;
      session.send(pdu.response({ command_status: status }));
      return;
    }
    lastId += 1;
    rec.message_id = lastId.toString(16).toUpperCase();
    const respond = () => session.send(pdu.response({ message_id: rec.message_id }));
    const wantsReceipt = (rec.registered_delivery & 0x03) !== 0;
    if (wantsReceipt && rules.receipt_first) {
      sendReceipt(rec, conn);
      setTimeout(respond, rules.receipt_delay_ms);
    } else {
      respond();
      if (wantsReceipt) {
        setTimeout(() => sendReceipt(rec, conn), rules.receipt_delay_ms);
      }
    }
  };
  if (rules.hold) {
    held.push(answer);
  } else {
    answer();
  }
}

function onBind(conn, pdu) {
  const session = conn.session;
  let status = 0;
  if (conn.bound) {
    status = smpp.ESME_RALYBND;
  } else if (pdu.system_id !== args.systemId) {
    status = smpp.ESME_RINVSYSID;
  } else if (pdu.password !== args.password) {
    status = smpp.ESME_RINVPASWD;
  }
  if (status !== 0) {
    stats.binds_refused += 1;
    session.send(pdu.response({ command_status: status }), () => session.close());
    return;
  }
  stats.binds_ok += 1;
  conn.bound = pdu.command;
  session.send(pdu.response({ system_id: 'textgate-smsc' }));
  if (canReceive(conn)) {
    flushQueuedReceipts(conn);
  }
}

const server = smpp.createServer((session) => {
  lastConnection += 1;
  const conn = { id: lastConnection, session, bound: null, unacked: new Set() };
  connections.add(conn);
  session.on('bind_transceiver', (pdu) => onBind(conn, pdu));
  session.on('bind_transmitter', (pdu) => onBind(conn, pdu));
  session.on('bind_receiver', (pdu) => onBind(conn, pdu));
  session.on('submit_sm', (pdu) => onSubmit(conn, pdu));
  session.on('enquire_link', (pdu) => {
    stats.enquire_links += 1;
    session.send(pdu.response());
  });
  session.on('unbind', (pdu) => {
    stats.unbinds += 1;
    conn.bound = null;
    session.send(pdu.response(), () => session.close());
  });
  session.on('pdu', (pdu) => {
    if (pdu.command === 'unknown') {
      session.send(pdu.response());
    }
  });
  session.on('error', (err) => {
    if (err && err.code) {
      stats.socket_errors += 1;
    } else {
      stats.protocol_errors += 1;
      process.stderr.write(`smsc: protocol error: ${err && err.message}\n`);
    }
    session.destroy();
  });
  session.on('close', () => {
    connections.delete(conn);
    for (const entry of conn.unacked) {
      entry.onLost();
    }
    conn.unacked.clear();
  });
});

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(raw ? JSON.parse(raw) : {});
      } catch (err) {
        reject(err);
      }
    });
  });
}

function inbound(body) {
  const receiver = pickReceiver(null);
  if (!receiver) {
    return null;
  }
  const text = String(body.text || '');
  const encoding = body.encoding || (smpp.encodings.ASCII.match(text) ? 'gsm7' : 'ucs2');
  const coded = {
    gsm7: [0, () => smpp.gsmCoder.encode(text, 0)],
    latin1: [3, () => smpp.encodings.LATIN1.encode(text)],
    ucs2: [8, () => smpp.encodings.UCS2.encode(text)],
  }[encoding];
  if (!coded) {
    throw new Error(`unknown encoding: ${encoding}`);
  }
  const from = String(body.from || '');
  const udh = body.udh ? Buffer.from(String(body.udh), 'hex') : null;
  const bytes = body.hex !== undefined ? Buffer.from(String(body.hex), 'hex') : coded[1]();
  const fields = {
    source_addr_ton: from.startsWith('+') ? 1 : 0,
    source_addr_npi: from.startsWith('+') ? 1 : 0,
    source_addr: digits(from),
    dest_addr_ton: 0,
    dest_addr_npi: 0,
    destination_addr: String(body.to || ''),
    esm_class: udh ? 0x40 : 0,
    data_coding: coded[0],
    short_message: udh ? Buffer.concat([udh, bytes]) : bytes,
  };
  if (body.sar) {
    fields.sar_msg_ref_num = Number(body.sar.ref);
    fields.sar_total_segments = Number(body.sar.total);
    fields.sar_segment_seqnum = Number(body.sar.seq);
  }
  stats.inbound_sent += 1;
  deliver(receiver, fields, () => {});
  return { sent: true, connection: receiver.id };
}

const routes = {
  'GET /submits': () => ({ submits: records }),
  'GET /stats': () => {
    const bound = { bind_transceiver: 0, bind_transmitter: 0, bind_receiver: 0 };
    for (const conn of connections) {
      if (conn.bound) {
        bound[conn.bound] += 1;
      }
    }
    return { ...stats, connections: connections.size, bound, held: held.length,
      queued_receipts: queuedReceipts.length };
  },
  'POST /rules': (body) => {
    rules = { ...defaultRules(), ...body };
    if (!rules.hold) {
      const waiting = held;
      held = [];
      waiting.forEach((answer) => answer());
    }
    return { rules };
  },
  'POST /drop': () => {
    stats.drops += 1;
    held = [];
    const count = connections.size;
    for (const conn of connections) {
      conn.session.destroy();
    }
    return { dropped: count };
  },
  'POST /reset': () => {
    generation += 1;
    rules = defaultRules();
    stats = freshStats();
    records = [];
    throttled = {};
    held = [];
    queuedReceipts = [];
    return { reset: true };
  },
  'POST /inbound': (body) => inbound(body),
};

const control = http.createServer(async (req, res) => {
  const route = routes[`${req.method} ${req.url}`];
  let status = 200;
  let result;
  try {
    if (!route) {
      status = 404;
      result = { error: 'no such route' };
    } else {
      result = route(await readJson(req));
      if (result === null) {
        status = 409;
        result = { error: 'no bound receiver' };
      }
    }
  } catch (err) {
    status = 400;
    result = { error: String(err && err.message) };
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(result));
});

server.listen(args.port, args.host, () => {
  control.listen(args.controlPort, args.host, () => {
    process.stdout.write(`${JSON.stringify({
      smpp_port: server.address().port,
      control_port: control.address().port,
    })}\n`);
  });
});

function shutdown() {
  for (const conn of connections) {
    conn.session.destroy();
  }
  control.close();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
