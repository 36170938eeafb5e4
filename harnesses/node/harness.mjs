// An exec harness for `refcrypto check` on Node.js's own crypto module (no npm packages).
//
//   refcrypto check -b "exec:node harnesses/node/harness.mjs" -m aes-256-gcm --quick
//
// It speaks protocol 1 of docs/exec-protocol.md: one JSON request per line on standard
// input, one JSON answer per line on standard output. It is a small, complete Shadowsocks
// implementation of its own (EVP_BytesToKey-MD5, HKDF-SHA1 subkeys, SIP004 chunks, the IV
// prefix of stream methods, UDP packets), written from the Shadowsocks specification, so
// that refcrypto can hold it against its vectors.
//
// HARNESS_DEFECT plants a bug, to show that the checks find it:
//   nonce-endian  the AEAD nonce counter is big-endian (SIP004 says little-endian)
//   drop-byte     the TCP decoder loses the last byte of every read's plaintext
//   skip-tag      the AEAD decoders never verify a tag
//   mask-length   reserved bits of a chunk length are masked off instead of rejected

import crypto from "node:crypto";
import readline from "node:readline";

const PROTOCOL = 1;
const MAX_PAYLOAD = 0x3fff;
const TAG_SIZE = 16;
const DEFECTS = ["nonce-endian", "drop-byte", "skip-tag", "mask-length"];
const defect = process.env.HARNESS_DEFECT || "";
if (defect && !DEFECTS.includes(defect)) {
  process.stderr.write(`HARNESS_DEFECT must be one of ${DEFECTS.join(", ")}, not ${defect}\n`);
  process.exit(2);
}

// --- the methods ---------------------------------------------------------------------------

// name -> { kind, cipher (Node's name), keySize, ivSize (the salt size for AEAD), ivOf }
const METHODS = new Map();
for (const bits of [128, 192, 256]) {
  const key = bits / 8;
  METHODS.set(`aes-${bits}-gcm`, { kind: "aead", cipher: `aes-${bits}-gcm`, keySize: key, ivSize: key });
  for (const mode of ["cfb", "cfb8", "cfb1", "ofb", "ctr"]) {
    METHODS.set(`aes-${bits}-${mode}`, { kind: "stream", cipher: `aes-${bits}-${mode}`, keySize: key, ivSize: 16 });
  }
  METHODS.set(`camellia-${bits}-cfb`, { kind: "stream", cipher: `camellia-${bits}-cfb`, keySize: key, ivSize: 16 });
}
METHODS.set("chacha20-ietf-poly1305", { kind: "aead", cipher: "chacha20-poly1305", keySize: 32, ivSize: 32 });
// OpenSSL's chacha20 takes 16 bytes: a 32-bit little-endian block counter, then the nonce
// words. The IETF variant is counter 0 and a 12-byte nonce; the original one (8-byte nonce,
// 64-bit counter) puts the nonce in the last two words and the counter's high word is zero.
METHODS.set("chacha20-ietf", { kind: "stream", cipher: "chacha20", keySize: 32, ivSize: 12,
  ivOf: (iv) => Buffer.concat([Buffer.alloc(4), iv]) });
METHODS.set("chacha20", { kind: "stream", cipher: "chacha20", keySize: 32, ivSize: 8,
  ivOf: (iv) => Buffer.concat([Buffer.alloc(8), iv]) });

class Failure extends Error {
  constructor(name, message) {
    super(message);
    this.name = name;
  }
}

// --- key derivation ------------------------------------------------------------------------

// EVP_BytesToKey with MD5, one round, no salt: D1 = MD5(pw), Di = MD5(D(i-1) || pw).
function masterKey(password, size) {
  const parts = [];
  let last = Buffer.alloc(0);
  let length = 0;
  while (length < size) {
    last = crypto.createHash("md5").update(last).update(password).digest();
    parts.push(last);
    length += last.length;
  }
  return Buffer.concat(parts).subarray(0, size);
}

// SIP007: subkey = HKDF-SHA1(master key, salt, "ss-subkey").
function subkey(key, salt) {
  return Buffer.from(crypto.hkdfSync("sha1", key, salt, "ss-subkey", key.length));
}

// --- AEAD ----------------------------------------------------------------------------------

function nonce(counter) {
  const out = Buffer.alloc(12);
  // A counter below 2^48 is enough for any case; written byte by byte, little-endian.
  for (let i = 0, n = counter; i < 6; i++, n = Math.floor(n / 256)) {
    out[defect === "nonce-endian" ? 11 - i : i] = n % 256;
  }
  return out;
}

function seal(method, key, counter, plain) {
  const cipher = crypto.createCipheriv(method.cipher, key, nonce(counter), { authTagLength: TAG_SIZE });
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([body, cipher.getAuthTag()]);
}

function open(method, key, counter, sealed) {
  const body = sealed.subarray(0, sealed.length - TAG_SIZE);
  const decipher = crypto.createDecipheriv(method.cipher, key, nonce(counter), { authTagLength: TAG_SIZE });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
  const plain = decipher.update(body);
  if (defect === "skip-tag") return plain;
  try {
    return Buffer.concat([plain, decipher.final()]);
  } catch {
    throw new Failure("InvalidTag", `tag of the message under nonce ${counter} does not verify`);
  }
}

function aeadEncode(method, key, iv, writes) {
  const sub = subkey(key, iv);
  let counter = 0;
  let prefix = iv;
  return writes.map((data) => {
    if (data.length === 0) return Buffer.alloc(0);
    const pieces = [prefix];
    prefix = Buffer.alloc(0);
    for (let start = 0; start < data.length; start += MAX_PAYLOAD) {
      const payload = data.subarray(start, start + MAX_PAYLOAD);
      const length = Buffer.from([payload.length >> 8, payload.length & 0xff]);
      pieces.push(seal(method, sub, counter, length), seal(method, sub, counter + 1, payload));
      counter += 2;
    }
    return Buffer.concat(pieces);
  });
}

// A SIP004 decoder: salt, then (sealed length, sealed payload) pairs, for any split.
class AeadDecoder {
  constructor(method, key) {
    this.method = method;
    this.key = key;
    this.buffer = Buffer.alloc(0);
    this.sub = null;
    this.counter = 0;
    this.need = method.ivSize;
    this.readingLength = true;
  }

  update(data, released) {
    this.buffer = Buffer.concat([this.buffer, data]);
    if (this.sub === null) {
      if (this.buffer.length < this.need) return;
      this.sub = subkey(this.key, this.buffer.subarray(0, this.need));
      this.buffer = this.buffer.subarray(this.need);
      this.need = 2 + TAG_SIZE;
    }
    while (this.buffer.length >= this.need) {
      const plain = open(this.method, this.sub, this.counter, this.buffer.subarray(0, this.need));
      this.counter += 1;
      this.buffer = this.buffer.subarray(this.need);
      if (this.readingLength) {
        let length = plain.readUInt16BE(0);
        if (defect === "mask-length") length &= MAX_PAYLOAD;
        if (length === 0 || length > MAX_PAYLOAD) {
          throw new Failure("InvalidChunkLength", `chunk length 0x${length.toString(16)}`);
        }
        this.need = length + TAG_SIZE;
      } else {
        released.push(plain);
        this.need = 2 + TAG_SIZE;
      }
      this.readingLength = !this.readingLength;
    }
  }

  finish() {
    // Complete: nothing at all, or the last thing was a whole payload chunk.
    const atBoundary = this.sub !== null && this.readingLength && this.counter > 0;
    const nothing = this.sub === null && this.buffer.length === 0;
    if (this.buffer.length > 0 || !(atBoundary || nothing)) {
      throw new Failure("TruncatedData", `stream ended with ${this.buffer.length} bytes of an incomplete salt or chunk`);
    }
  }
}

// --- stream methods ------------------------------------------------------------------------

function streamCipher(method, key, iv, decrypt) {
  const nonceBytes = method.ivOf ? method.ivOf(iv) : iv;
  return decrypt ? crypto.createDecipheriv(method.cipher, key, nonceBytes)
    : crypto.createCipheriv(method.cipher, key, nonceBytes);
}

function streamEncode(method, key, iv, writes) {
  const cipher = streamCipher(method, key, iv, false);
  let prefix = iv;
  return writes.map((data) => {
    if (data.length === 0) return Buffer.alloc(0);
    const out = Buffer.concat([prefix, cipher.update(data)]);
    prefix = Buffer.alloc(0);
    return out;
  });
}

class StreamDecoder {
  constructor(method, key) {
    this.method = method;
    this.key = key;
    this.pending = Buffer.alloc(0);
    this.cipher = null;
  }

  update(data, released) {
    if (this.cipher === null) {
      this.pending = Buffer.concat([this.pending, data]);
      if (this.pending.length < this.method.ivSize) return;
      this.cipher = streamCipher(this.method, this.key, this.pending.subarray(0, this.method.ivSize), true);
      data = this.pending.subarray(this.method.ivSize);
      this.pending = Buffer.alloc(0);
    }
    if (data.length) released.push(this.cipher.update(data));
  }

  finish() {
    if (this.cipher === null && this.pending.length > 0) {
      throw new Failure("TruncatedData", `stream ended after ${this.pending.length} of ${this.method.ivSize} IV bytes`);
    }
  }
}

// --- requests ------------------------------------------------------------------------------

function hex(value, field, size) {
  if (typeof value !== "string" || !/^([0-9a-fA-F]{2})*$/.test(value)) {
    throw new Failure("BadRequest", `${field} must be a hex string`);
  }
  const bytes = Buffer.from(value, "hex");
  if (size !== undefined && bytes.length !== size) {
    throw new Failure("BadRequest", `${field} must be ${size} bytes, got ${bytes.length}`);
  }
  return bytes;
}

function hexList(value, field) {
  if (!Array.isArray(value)) throw new Failure("BadRequest", `${field} must be a list`);
  return value.map((item, i) => hex(item, `${field}[${i}]`));
}

function lookup(request) {
  const method = METHODS.get(request.method);
  if (!method) throw new Failure("UnsupportedMethod", `no method ${JSON.stringify(request.method)}`);
  return [method, masterKey(hex(request.password, "password"), method.keySize)];
}

function tcpDecode(request) {
  const [method, key] = lookup(request);
  const reads = hexList(request.reads, "reads");
  const decoder = method.kind === "aead" ? new AeadDecoder(method, key) : new StreamDecoder(method, key);
  const outputs = [];
  for (let at = 0; at <= reads.length; at++) {
    const released = [];
    try {
      if (at < reads.length) decoder.update(reads[at], released);
      else if (request.final) decoder.finish();
    } catch (error) {
      if (!(error instanceof Failure)) throw error;
      return { ok: false, error: error.name, message: error.message, at,
        outputs: outputs.map((b) => b.toString("hex")), released: Buffer.concat(released).toString("hex") };
    }
    if (at < reads.length) {
      let out = Buffer.concat(released);
      if (defect === "drop-byte" && out.length) out = out.subarray(0, out.length - 1);
      outputs.push(out);
    }
  }
  return { ok: true, outputs: outputs.map((b) => b.toString("hex")) };
}

function udpDecrypt(method, key, packet) {
  const minimum = method.ivSize + (method.kind === "aead" ? TAG_SIZE : 0);
  if (packet.length < minimum) {
    throw new Failure("TruncatedData", `packet of ${packet.length} bytes, at least ${minimum} needed`);
  }
  const iv = packet.subarray(0, method.ivSize);
  if (method.kind === "aead") return open(method, subkey(key, iv), 0, packet.subarray(method.ivSize));
  return streamCipher(method, key, iv, true).update(packet.subarray(method.ivSize));
}

const HANDLERS = {
  hello(request) {
    if (request.protocol !== PROTOCOL) throw new Failure("BadRequest", `protocol ${request.protocol} not spoken`);
    const implementation = `Node.js ${process.version} crypto (OpenSSL ${process.versions.openssl})` +
      (defect ? `, PLANTED DEFECT ${defect}` : "");
    return { ok: true, protocol: PROTOCOL, name: "node", implementation, methods: [...METHODS.keys()] };
  },
  "tcp-encode"(request) {
    const [method, key] = lookup(request);
    const iv = hex(request.iv, "iv", method.ivSize);
    const writes = hexList(request.writes, "writes");
    const outputs = (method.kind === "aead" ? aeadEncode : streamEncode)(method, key, iv, writes);
    return { ok: true, outputs: outputs.map((b) => b.toString("hex")) };
  },
  "tcp-decode": tcpDecode,
  "udp-encrypt"(request) {
    const [method, key] = lookup(request);
    const iv = hex(request.iv, "iv", method.ivSize);
    const data = hex(request.data, "data");
    const body = method.kind === "aead" ? seal(method, subkey(key, iv), 0, data)
      : streamCipher(method, key, iv, false).update(data);
    return { ok: true, packet: Buffer.concat([iv, body]).toString("hex") };
  },
  "udp-decrypt"(request) {
    const [method, key] = lookup(request);
    return { ok: true, data: udpDecrypt(method, key, hex(request.packet, "packet")).toString("hex") };
  },
};

function answer(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    return { id: null, ok: false, error: "BadRequest", message: "not JSON" };
  }
  const id = request && typeof request === "object" ? request.id : null;
  try {
    const handler = Object.hasOwn(HANDLERS, request.op) ? HANDLERS[request.op] : null;
    if (!handler) throw new Failure("BadRequest", `unknown op ${JSON.stringify(request.op)}`);
    return { id, ...handler(request) };
  } catch (error) {
    if (error instanceof Failure) return { id, ok: false, error: error.name, message: error.message };
    return { id, ok: false, error: "InternalError", message: String(error && error.message) };
  }
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  if (line.trim()) process.stdout.write(JSON.stringify(answer(line)) + "\n");
});
