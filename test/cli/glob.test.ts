import { describe, expect, it } from 'vitest';
import { globMatch } from '../../lib/cli/glob.js';

describe('globMatch (fnmatch without flags, as find -name)', () => {
  it.each([
    ['*', 'anything', true],
    ['*', '', true],
    ['*', '.hidden', true], // find -name '*' matches dot files
    ['*.conf', 'nginx.conf', true],
    ['*.conf', 'nginx.conf.bak', false],
    ['nginx.*', 'nginx.conf', true],
    ['*a*b*c', 'xxaxxbxxc', true],
    ['*a*b*c', 'xxaxxbxxcx', false],
    ['a*a*a*a*b', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', false], // no exponential backtracking
    ['?', 'x', true],
    ['?', '', false],
    ['?', 'xy', false],
    ['??x', 'abx', true],
    ['?', 'é', true],
    ['?', '😀', true], // one code point, two UTF-16 units
    ['[abc]', 'b', true],
    ['[abc]', 'd', false],
    ['[a-c]x', 'bx', true],
    ['[!a-c]x', 'bx', false],
    ['[^a-c]x', 'dx', true],
    ['[]]', ']', true], // ] first is a member
    ['[!]]', 'a', true],
    ['[a-]', '-', true], // - last is a member
    ['[', '[', true], // unclosed: literal
    ['[ab', '[ab', true],
    ['\\*', '*', true],
    ['\\*', 'a', false],
    ['\\?', '?', true],
    ['[\\]]', ']', true],
    ['index.htm?', 'index.html', true],
    ['index.htm?', 'index.htm', false],
    ['', '', true],
    ['', 'a', false],
    ['a**b', 'ab', true],
  ])('%j matches %j: %s', (pattern, name, expected) => {
    expect(globMatch(pattern, name)).toBe(expected);
  });
});
