/** Types for the parts of fs-ext 2.1.1 that postlock uses (the package ships none). */
declare module 'fs-ext' {
  export function fcntl(fd: number, cmd: 'setlk' | 'setlkw' | 'getlk', arg: number, cb: (err: NodeJS.ErrnoException | null) => void): void;
  export function flock(fd: number, flags: 'sh' | 'ex' | 'shnb' | 'exnb' | 'un', cb: (err: NodeJS.ErrnoException | null) => void): void;
  export const constants: { F_RDLCK: number; F_WRLCK: number; F_UNLCK: number };
}
