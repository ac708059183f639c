import { describe, expect, it } from 'vitest';
import { commOf, descendants, parseTasklist, taskkillCommand, tasklistCommand } from './processes.js';

describe('process table helpers', () => {
  it('descendants walks the whole tree, not siblings', () => {
    const t = [
      { pid: 10, ppid: 1 },
      { pid: 11, ppid: 10 },
      { pid: 12, ppid: 11 },
      { pid: 13, ppid: 1 },
    ];
    expect(descendants(t, 10)).toEqual([11, 12]);
    expect(descendants(t, 13)).toEqual([]);
  });
  it('Linux compares the first 15 characters of an image name', () => {
    expect(commOf('SolidWorksInstaller.exe')).toBe('solidworksinsta');
  });
  it('Windows command lines (pure; run only on Windows): tasklist by image name, taskkill of the tree', () => {
    expect(tasklistCommand('sldIM.exe')).toEqual({ file: 'tasklist.exe', args: ['/FI', 'IMAGENAME eq sldIM.exe', '/FO', 'CSV', '/NH'] });
    expect(taskkillCommand(42)).toEqual({ file: 'taskkill.exe', args: ['/PID', '42', '/T', '/F'] });
  });
  it('parses tasklist CSV output and its “no tasks” line', () => {
    const out = '"sldIM.exe","4242","Services","0","120,332 K"\r\n"SLDIM.EXE","4300","Services","0","1,000 K"\r\n';
    expect(parseTasklist(out, 'sldim.exe')).toEqual([4242, 4300]);
    expect(parseTasklist('INFO: No tasks are running which match the specified criteria.\r\n', 'sldIM.exe')).toEqual([]);
  });
});
