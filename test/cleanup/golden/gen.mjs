import fs from 'node:fs';
import { MailConfig } from '/work/main/dist/src/global/mail_conf.js';
import { CleanupClient } from '/work/main/dist/src/global/cleanup_clnt.js';
import { readRecords } from '/work/main/dist/src/global/record.js';
import { cases } from './cases.mjs';
const cfg = MailConfig.fromText('queue_directory = /tmp/cleanup-pfx/spool\n');
const out = process.argv[2];
const inputs = {};
const ids = {};
for (const [name, recs] of Object.entries(cases)) {
  const c = await CleanupClient.open(cfg, (2 | 16 | 32 | 64) | (name.endsWith('-auto') ? 512 : 0), { timeoutMs: 10000 });
  const id = c.queueId;
  for (const [t, d] of recs) { if (t === 'E') break; await c.record(t.charCodeAt(0), Buffer.from(d.split('QUEUEID').join(id), 'latin1')); }
  const r = await c.finish();
  inputs[name] = recs;
  ids[name] = id;
  let file = null;
  for (const q of ['hold', 'incoming', 'active', 'deferred']) { const p = `/tmp/cleanup-pfx/spool/${q}/${id}`; if (fs.existsSync(p)) { file = p; break; } }
  const lines = [JSON.stringify({ status: r.status, reason: r.reason })];
  if (file) for (const rec of readRecords(fs.readFileSync(file))) {
    let d = rec.data.toString('latin1'); const t = String.fromCharCode(rec.type);
    d = d.split(id).join('{ID}').replace(/^create_time=\d+$/, 'create_time={NOW}').replace(/\d{14}\.\{ID\}/, '{STAMP}.{ID}').replace(/\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)/, '{DATE}');
    if (t === 'T') d = '{T}'; if (t === 'C') d = rec.data.toString('latin1');
    lines.push(JSON.stringify([t, d]));
  }
  fs.writeFileSync(`${out}/case-${name}.jsonl`, lines.join('\n') + '\n');
  console.log(name, r.status, r.reason, file);
}
await new Promise((r) => setTimeout(r, 1500));
const log = fs.readFileSync('/tmp/cleanup-pfx/maillog', 'utf8').split('\n');
for (const [name, id] of Object.entries(ids)) {
  const lines = log.filter((l) => /postfix\/cleanup\[\d+\]: /.test(l) && l.includes(id + ':')).map((l) => l.replace(/^.*?postfix\/cleanup\[\d+\]: /, '').split(id).join('{ID}').replace(/\d{14}\.\{ID\}/, '{STAMP}.{ID}'));
  fs.writeFileSync(`${out}/case-${name}.log`, lines.join('\n') + (lines.length ? '\n' : ''));
}
fs.writeFileSync(`${out}/cases.json`, JSON.stringify(inputs, null, 0).replace(/\],\[/g, '],\n['));
