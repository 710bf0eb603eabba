/** logsink - collect msg.* output in tests instead of printing it. */

import { msgAddOutput } from '../../src/util/msg.js';

export function setLogSink(): { lines: string[]; restore: () => void } {
  const lines: string[] = [];
  const remove = msgAddOutput((severity, text) => lines.push(severity === 'info' ? text : `${severity}: ${text}`));
  return { lines, restore: remove };
}
