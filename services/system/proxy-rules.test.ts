import { describe, expect, it } from 'vitest';
import { classify, scopeListUrl } from './proxy-rules.js';

describe('Docker socket proxy rules', () => {
  it.each([
    ['GET', '/_ping', 'ping'],
    ['GET', '/v1.41/version', 'version'],
    ['GET', '/v1.41/containers/json?all=1', 'list'],
    ['GET', '/containers/abc123/json', 'inspect'],
    ['GET', '/v1.43/containers/roomcast-api-1/logs?stdout=1&stderr=1&tail=20', 'logs'],
    ['HEAD', '/_ping', 'ping'],
  ])('lets %s %s through', (method, url, kind) => {
    expect(classify(method, url)).toMatchObject({ kind });
  });

  it.each([
    ['POST', '/containers/create'],
    ['POST', '/v1.41/containers/abc/start'],
    ['DELETE', '/containers/abc'],
    ['POST', '/containers/abc/exec'],
    ['GET', '/images/json'],
    ['GET', '/volumes'],
    ['GET', '/containers/abc/archive?path=/etc'],
    ['GET', '/containers/abc/export'],
    ['GET', '/containers/abc/logs?follow=1'],
    ['GET', '/containers/../images/json'],
    ['GET', '/v1.41/containers/abc/json/../../../images/json'],
    ['GET', '/secrets'],
  ])('refuses %s %s', (method, url) => {
    expect(classify(method, url)).toHaveProperty('refused');
  });

  it('forces the project label filter on container lists, whatever the caller asked', () => {
    const scoped = new URL(scopeListUrl('/v1.41/containers/json?all=1&filters={"label":["other=1"],"status":["running"]}', 'roomcast'), 'http://x');
    expect(scoped.searchParams.get('all')).toBe('1');
    expect(JSON.parse(scoped.searchParams.get('filters')!)).toEqual({ label: ['com.docker.compose.project=roomcast'], status: ['running'] });
    expect(JSON.parse(new URL(scopeListUrl('/containers/json?filters=nonsense', 'p'), 'http://x').searchParams.get('filters')!)).toEqual({ label: ['com.docker.compose.project=p'] });
  });
});
