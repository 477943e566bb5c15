// Validates an AsyncAPI document with the official parser, @asyncapi/parser,
// and its default rules, then checks what the parser does not: every message
// example against its message's payload and headers schemas, and, given
// --samples, the Go codec's own lines (gateway/roomsproto/testdata) against
// the /ws/rooms schemas. Prints every diagnostic; exits 1 on any of error
// severity or any failed check.
//
//   node validate.mjs [asyncapi.yaml] [--samples samples.json]
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';
import Ajv from 'ajv';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { samples: { type: 'string' } } });
const file = positionals[0] ?? fileURLToPath(new URL('../asyncapi.yaml', import.meta.url));
const { document, diagnostics } = await new Parser().parse(await readFile(file, 'utf8'), { source: file });

const names = { [DiagnosticSeverity.Error]: 'error', [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info', [DiagnosticSeverity.Hint]: 'hint' };
let errors = 0;
for (const d of diagnostics) {
  if (d.severity === DiagnosticSeverity.Error) errors++;
  const at = d.range ? `${d.range.start.line + 1}:${d.range.start.character + 1}` : '?';
  console.log(`${file}:${at} ${names[d.severity] ?? d.severity} ${d.code}: ${d.message} (at ${d.path.join('.')})`);
}
if (!document || errors > 0) {
  console.error(`asyncapi: ${file}: ${errors} error(s)${document ? '' : ', not parsed'}`);
  process.exit(1);
}

// AsyncAPI schemas are JSON Schema draft 7 plus a few keywords of their own
// (and the parser's x-parser-* marks), which Ajv is told to ignore.
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
const compiled = new Map();
const check = (schema, value) => {
  if (!compiled.has(schema)) compiled.set(schema, ajv.compile(schema));
  const v = compiled.get(schema);
  return v(value) ? null : ajv.errorsText(v.errors);
};
const fail = (msg) => { errors++; console.log(`${file}: error ${msg}`); };

const doc = document.json();
let examples = 0;
for (const [id, msg] of Object.entries(doc.components?.messages ?? {})) {
  for (const [i, ex] of (msg.examples ?? []).entries()) {
    examples++;
    for (const part of ['payload', 'headers']) {
      if (ex[part] === undefined) continue;
      if (!msg[part]) { fail(`message ${id} example ${i}: ${part} without a schema`); continue; }
      const e = check(msg[part], ex[part]);
      if (e) fail(`message ${id} example ${i} (${ex.name ?? ''}): ${part}: ${e}`);
    }
  }
}

let samples = 0;
if (values.samples) {
  const s = JSON.parse(await readFile(values.samples, 'utf8'));
  const rooms = doc.channels.rooms.messages;
  const matching = (line, ids) => ids.filter((id) => check(rooms[id].payload, JSON.parse(line)) === null);
  const commands = ['join', 'leave', 'publish', 'history', 'presence'];
  const gateway = ['ok', 'published', 'joined', 'historyResult', 'presenceReply', 'error', 'roomMessage', 'presenceEvent', 'push'];
  for (const line of s.commands) {
    samples++;
    if (matching(line, commands).length !== 1) fail(`command the gateway accepts, not exactly one command schema: ${line}`);
  }
  for (const line of s.invalid_commands) {
    samples++;
    const m = matching(line, commands);
    if (m.length !== 0) fail(`command the gateway refuses, valid as ${m}: ${line}`);
  }
  for (const line of s.messages) {
    samples++;
    if (line.includes('\n')) fail(`gateway line holds a newline: ${line}`);
    if (matching(line, gateway).length === 0) fail(`gateway line matching no message schema: ${line}`);
  }
  if (samples === 0) fail(`${values.samples}: no samples`);
}

if (errors > 0) {
  console.error(`asyncapi: ${file}: ${errors} error(s)`);
  process.exit(1);
}
console.log(`asyncapi: ${file}: valid AsyncAPI ${document.version()}: ` +
  `${document.channels().length} channels, ${document.operations().length} operations, ` +
  `${document.messages().length} messages, ${examples} examples valid` +
  (values.samples ? `, ${samples} codec samples agree` : ''));
