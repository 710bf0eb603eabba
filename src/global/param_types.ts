/**
 * param_types - shape of one entry of the parameter registry (Postfix
 * global/mail_conf.h CONFIG_*_TABLE). The registry itself is mail_params.ts.
 */

export type ParamType = 'str' | 'raw' | 'int' | 'long' | 'bool' | 'time' | 'nint' | 'nbool';

export interface ParamDef {
  /** main.cf name */
  name: string;
  /** str: expanded text; raw: never expanded; int/long: numbers; bool: yes/no; time: number+unit */
  type: ParamType;
  /** built-in default exactly as `postconf -d` prints it (may reference $other parameters) */
  def: string;
  /** default time unit for bare numbers (time parameters): s m h d w */
  unit?: 's' | 'm' | 'h' | 'd' | 'w';
  /** numeric range (int/long/time in seconds); 0 for max means "no upper limit" */
  min?: number;
  max?: number;
  /** string length range (str) */
  minLen?: number;
  maxLen?: number;
}
