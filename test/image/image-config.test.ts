import { describe, expect, it } from 'vitest';
import { createdByPerLayer, diffIdOf, parseImageConfig, readImageConfig } from '../../lib/image/image-config.js';
import { MAX_JSON_BYTES } from '../../lib/image/json-document.js';
import { BufferSource } from '../../lib/source/buffer-source.js';
import { expectImgfsError } from './fixtures.js';

const where = { archive: 'img.tar', member: 'blobs/sha256/cfg' };

describe('readImageConfig', () => {
  it('keeps the fields imgfs exposes', async () => {
    const config = await readImageConfig(
      new BufferSource(
        Buffer.from(
          JSON.stringify({
            architecture: 'arm64',
            os: 'linux',
            variant: 'v8',
            created: '2024-01-01T00:00:00Z',
            config: {
              User: 'app',
              Env: ['A=1'],
              Entrypoint: null,
              Cmd: ['sh'],
              WorkingDir: '/srv',
              Labels: { a: 'b' },
              ExposedPorts: { '80/tcp': {} },
              Volumes: null,
              StopSignal: 'SIGTERM',
              Healthcheck: { Test: ['NONE'] },
            },
            rootfs: { type: 'layers', diff_ids: ['sha256:aa', 'sha256:bb'] },
            history: [{ created_by: 'one', author: 'me', comment: 'c', created: 'then' }, { created_by: 'ENV', empty_layer: true }],
            container: 'ignored',
          }),
        ),
        'cfg',
      ),
      where,
    );
    expect(config).toEqual({
      architecture: 'arm64',
      os: 'linux',
      variant: 'v8',
      created: '2024-01-01T00:00:00Z',
      config: {
        User: 'app',
        Env: ['A=1'],
        Entrypoint: null,
        Cmd: ['sh'],
        WorkingDir: '/srv',
        Labels: { a: 'b' },
        ExposedPorts: { '80/tcp': {} },
        Volumes: null,
        StopSignal: 'SIGTERM',
      },
      rootfs: { type: 'layers', diff_ids: ['sha256:aa', 'sha256:bb'] },
      history: [{ created_by: 'one', author: 'me', comment: 'c', created: 'then' }, { created_by: 'ENV', empty_layer: true }],
    });
  });

  it('drops fields of the wrong shape one by one', () => {
    const config = parseImageConfig({
      architecture: 7,
      os: 'linux',
      config: { Env: 'A=1', Cmd: [1, 2], User: 'u', Labels: { a: 1 } },
      rootfs: { diff_ids: 'sha256:aa' },
      history: ['x', { created_by: 5, empty_layer: 'yes', comment: 'kept' }],
    });
    expect(config).toEqual({ os: 'linux', config: { User: 'u' }, history: [{ comment: 'kept' }] });
    expect(parseImageConfig({ config: 'nope', rootfs: null, history: {} })).toEqual({});
  });

  it('rejects a config that is not JSON, or not an object, naming the member', async () => {
    const bad = await expectImgfsError(
      readImageConfig(new BufferSource(Buffer.from('{"os": '), 'cfg'), where),
      'EIMGFORMAT',
      /blobs\/sha256\/cfg is not valid JSON.*member blobs\/sha256\/cfg, in img\.tar/,
    );
    expect(bad.member).toBe('blobs/sha256/cfg');
    await expectImgfsError(readImageConfig(new BufferSource(Buffer.from('[1]'), 'cfg'), where), 'EIMGFORMAT', /not a JSON object/);
  });

  it('refuses a config over 8 MiB (ELIMIT)', async () => {
    const huge = Buffer.alloc(MAX_JSON_BYTES + 1, 0x20);
    await expectImgfsError(readImageConfig(new BufferSource(huge, 'cfg'), where), 'ELIMIT', /over 8388608 bytes/);
  });

  it('accepts a UTF-8 byte order mark', async () => {
    const config = await readImageConfig(new BufferSource(Buffer.from('\ufeff{"os":"linux"}'), 'cfg'), where);
    expect(config).toEqual({ os: 'linux' });
  });
});

describe('createdByPerLayer', () => {
  it('skips empty_layer entries and pairs the rest with layers in order', () => {
    const config = parseImageConfig({
      history: [
        { created_by: 'ADD rootfs' },
        { created_by: 'ENV A=1', empty_layer: true },
        { created_by: 'CMD sh', empty_layer: true },
        { created_by: 'RUN make' },
        { created_by: 'COPY app' },
      ],
    });
    expect(createdByPerLayer(config, 3)).toEqual(['ADD rootfs', 'RUN make', 'COPY app']);
    expect(createdByPerLayer(config, 4)).toEqual(['ADD rootfs', 'RUN make', 'COPY app', undefined]);
    expect(createdByPerLayer(undefined, 2)).toEqual([undefined, undefined]);
  });

  it('reads diff ids by layer index', () => {
    const config = parseImageConfig({ rootfs: { type: 'layers', diff_ids: ['sha256:aa'] } });
    expect(diffIdOf(config, 0)).toBe('sha256:aa');
    expect(diffIdOf(config, 1)).toBeUndefined();
  });
});
