/**
 * param_types - shape of one entry of the parameter registry (Postfix
 * global/mail_conf.h CONFIG_*_TABLE). The registry itself is mail_params.ts.
 */

/**
 * str: expanded text; raw: never expanded; int/long: numbers; bool: yes/no;
 * time: number with optional unit; nint/nbool: int/bool whose default is an
 * expression (Postfix CONFIG_NINT_TABLE/CONFIG_NBOOL_TABLE).
 */
export type ParamType = 'str' | 'raw' | 'int' | 'long' | 'bool' | 'time' | 'nint' | 'nbool';

/** Value lookup used by computed defaults: the expanded value of another parameter. */
export type ParamEval = (name: string) => string;
/** The expanded value of a parameter only when main.cf or an override sets it (Postfix mail_conf_lookup_eval). */
export type ParamExplicit = (name: string) => string | undefined;

export interface ParamDef {
  /** main.cf name */
  name: string;
  type: ParamType;
  /** built-in default exactly as `postconf -d` prints it (may reference $other parameters) */
  def: string;
  /**
   * machine-dependent default computed at run time (myhostname, mydomain,
   * mynetworks); when present it replaces `def`.
   */
  fn?: (evalParam: ParamEval, explicit: ParamExplicit) => string;
  /** default time unit for bare numbers (time parameters): s m h d w; absent = taken from the expanded default */
  unit?: 's' | 'm' | 'h' | 'd' | 'w';
  /** numeric range (int/long/nint/time in seconds), or string length range (str/raw); 0 means "no limit" */
  min?: number;
  max?: number;
  /** programs that read it (Postfix source folder names; "global" = every program) */
  users?: string;
  /** read-only run-time value (process_name, process_id, service_name) */
  readonly?: boolean;
  /** legacy name kept for compatibility: known (no "unused parameter" warning) but not shown by postconf -d */
  legacy?: boolean;
}
