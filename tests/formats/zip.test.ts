import { describe, expect, it } from 'vitest';
import { looksLikeZip, readZip, zipEntryData } from '../../src/formats/zip.js';
import { expectUserError, weightFixture } from '../helpers/formats.js';

const fixture = weightFixture;
const utf8 = (s: string) => new TextEncoder().encode(s);


interface Entry {
  name: string;
  data: Uint8Array;
  method?: number;
  flags?: number;
  /** Extra field bytes in the local header (PyTorch pads with one to align the data). */
  localExtra?: Uint8Array;
}

/**
 * A zip archive written by hand, after APPNOTE.TXT: local headers and data, central directory,
 * then either a plain end record or (zip64) every size, offset and count in zip64 fields with
 * all-ones placeholders in the 32-bit ones, a zip64 end record and its locator. CRCs are left 0
 * (the reader does not check them).
 */
function makeZip(entries: Entry[], options: { zip64?: boolean; comment?: string } = {}): Uint8Array {
  const parts: number[] = [];
  const u16 = (v: number) => parts.push(v & 0xff, (v >>> 8) & 0xff);
  const u32 = (v: number) => { u16(v & 0xffff); u16(v >>> 16); };
  const u64 = (v: number) => { u32(v % 2 ** 32); u32(Math.floor(v / 2 ** 32)); };
  const bytes = (b: Uint8Array) => parts.push(...b);
  const zip64 = options.zip64 ?? false;
  const offsets: number[] = [];
  for (const e of entries) {
    offsets.push(parts.length);
    const name = utf8(e.name);
    const extra = e.localExtra ?? new Uint8Array(0);
    u32(0x04034b50); u16(zip64 ? 45 : 20); u16(e.flags ?? 0); u16(e.method ?? 0); u16(0); u16(0); u32(0);
    u32(e.data.length); u32(e.data.length); u16(name.length); u16(extra.length);
    bytes(name); bytes(extra); bytes(e.data);
  }
  const cdOffset = parts.length;
  entries.forEach((e, i) => {
    const name = utf8(e.name);
    u32(0x02014b50); u16(zip64 ? 45 : 20); u16(zip64 ? 45 : 20); u16(e.flags ?? 0); u16(e.method ?? 0); u16(0); u16(0); u32(0);
    if (zip64) {
      u32(0xffffffff); u32(0xffffffff); u16(name.length); u16(4 + 24); u16(0); u16(0); u16(0); u32(0); u32(0xffffffff);
      bytes(name);
      u16(0x0001); u16(24); u64(e.data.length); u64(e.data.length); u64(offsets[i]);
    } else {
      u32(e.data.length); u32(e.data.length); u16(name.length); u16(0); u16(0); u16(0); u16(0); u32(0); u32(offsets[i]);
      bytes(name);
    }
  });
  const cdSize = parts.length - cdOffset;
  if (zip64) {
    const recordOffset = parts.length;
    u32(0x06064b50); u64(44); u16(45); u16(45); u32(0); u32(0); u64(entries.length); u64(entries.length); u64(cdSize); u64(cdOffset);
    u32(0x07064b50); u32(0); u64(recordOffset); u32(1);
  }
  const comment = utf8(options.comment ?? '');
  u32(0x06054b50); u16(0); u16(0);
  if (zip64) { u16(0xffff); u16(0xffff); u32(0xffffffff); u32(0xffffffff); } else { u16(entries.length); u16(entries.length); u32(cdSize); u32(cdOffset); }
  u16(comment.length); bytes(comment);
  return Uint8Array.from(parts);
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('zip: reading archives', () => {
  const entries: Entry[] = [
    { name: 'archive/data.pkl', data: utf8('pickle bytes') },
    { name: 'archive/data/0', data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), localExtra: new Uint8Array([0x46, 0x42, 4, 0, 0, 0, 0, 0]) },
    { name: 'archive/version', data: utf8('3\n') },
  ];

  it('lists the entries of the central directory and returns stored data as views (no copy)', () => {
    const zip = makeZip(entries);
    expect(looksLikeZip(zip)).toBe(true);
    const archive = readZip(zip);
    expect(archive.zip64).toBe(false);
    expect(archive.entries.map((e) => [e.name, e.method, e.size])).toEqual([
      ['archive/data.pkl', 0, 12], ['archive/data/0', 0, 8], ['archive/version', 0, 2],
    ]);
    const data = zipEntryData(zip, archive.entries[1]);
    expect([...data]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(data.buffer).toBe(zip.buffer);
    // The local header's own extra field (8 bytes of padding here) is skipped by its length.
    expect(data.byteOffset).toBe(archive.entries[1].localHeaderOffset + 30 + 'archive/data/0'.length + 8);
    expect(text(zipEntryData(zip, archive.entries[0]))).toBe('pickle bytes');
  });

  it('finds the end record behind an archive comment', () => {
    // The comment holds a fake end-record signature; only the real one's comment length ends the file.
    const zip = makeZip(entries, { comment: 'PK\x05\x06 is the signature; this comment is longer than 22 bytes' });
    expect(readZip(zip).entries.map((e) => e.name)).toEqual(entries.map((e) => e.name));
  });

  it('reads zip64: the zip64 end record via its locator and sizes/offsets from zip64 extra fields', () => {
    const zip = makeZip(entries, { zip64: true });
    const archive = readZip(zip);
    expect(archive.zip64).toBe(true);
    expect(archive.entries.map((e) => [e.name, e.size, e.compressedSize])).toEqual([
      ['archive/data.pkl', 12, 12], ['archive/data/0', 8, 8], ['archive/version', 2, 2],
    ]);
    expect(archive.entries.map((e) => e.localHeaderOffset)).toEqual(readZip(makeZip(entries)).entries.map((e) => e.localHeaderOffset));
    expect([...zipEntryData(zip, archive.entries[1])]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(text(zipEntryData(zip, archive.entries[2]))).toBe('3\n');
  });

  it('reads an empty archive', () => {
    const zip = makeZip([]);
    expect(looksLikeZip(zip)).toBe(true);
    expect(readZip(zip).entries).toEqual([]);
  });

  it('reads what PyTorch writes: stored records whose data start 64-byte aligned in the file', () => {
    const zip = fixture('tv.pth');
    const archive = readZip(zip);
    expect(archive.entries[0].name).toBe('tv/data.pkl');
    expect(archive.entries.map((e) => e.name)).toContain('tv/version');
    for (const e of archive.entries.filter((x) => x.name.startsWith('tv/data/'))) {
      expect(e.method).toBe(0);
      const data = zipEntryData(zip, e);
      expect((data.byteOffset - zip.byteOffset) % 64, e.name).toBe(0);
    }
  });

  it("reads what Python's zipfile writes", () => {
    const zip = fixture('malicious.pth');
    expect(readZip(zip).entries.map((e) => e.name)).toEqual(['archive/data.pkl', 'archive/version']);
    expect(text(zipEntryData(zip, readZip(zip).entries[1]))).toBe('3\n');
  });
});

describe('zip: refusing what it cannot read', () => {
  const entries: Entry[] = [
    { name: 'a.txt', data: utf8('hello, world') },
    { name: 'b.bin', data: new Uint8Array(100).fill(7) },
  ];

  it('lists a compressed entry but refuses its data', () => {
    const zip = makeZip([{ name: 'archive/data.pkl', data: utf8('xx'), method: 8 }]);
    const [entry] = readZip(zip).entries;
    expect(entry.method).toBe(8);
    expectUserError(
      () => zipEntryData(zip, entry),
      'zip record "archive/data.pkl" is compressed (deflate); PyTorch stores its records uncompressed, so this archive was repacked: ' +
        're-save it with torch.save, or unzip and re-zip it with `zip -0`',
    );
    expectUserError(() => zipEntryData(zip, { ...entry, method: 14 }), /^zip record "archive\/data.pkl" is compressed \(lzma\)/);
  });

  it('refuses encrypted entries', () => {
    const zip = makeZip([{ name: 'secret', data: utf8('xx'), flags: 1 }]);
    expectUserError(() => zipEntryData(zip, readZip(zip).entries[0]), 'zip record "secret" is encrypted, which is not supported');
  });

  it('refuses a truncated archive: no end record', () => {
    const zip = makeZip(entries);
    expectUserError(() => readZip(zip.subarray(0, 60)), 'zip archive is truncated or damaged: no end-of-central-directory record in its last 60 bytes (was the download cut short?)');
    expectUserError(() => readZip(new Uint8Array(0)), /^zip archive is truncated or damaged: no end-of-central-directory record/);
  });

  it('refuses a central directory that does not fit before the end record', () => {
    const zip = makeZip(entries);
    // Drop the first 40 bytes: the end record survives but its offsets now point past it.
    expectUserError(() => readZip(zip.subarray(40)), /^zip archive is truncated or damaged: its central directory \(2 entries, bytes \d+\.\.\d+\) does not fit/);
  });

  it('refuses a central directory entry without its signature', () => {
    const zip = makeZip(entries);
    const cdOffset = new DataView(zip.buffer).getUint32(zip.length - 6, true);
    zip[cdOffset] = 0;
    expectUserError(() => readZip(zip), `zip archive is damaged: central directory entry 0 at byte ${cdOffset} has no valid header`);
  });

  it('refuses a record whose data run past the end of the file', () => {
    const zip = makeZip(entries);
    const entry = readZip(zip).entries[1];
    expectUserError(() => zipEntryData(zip, { ...entry, size: 10_000, compressedSize: 10_000 }), /^zip archive is truncated: record "b.bin" needs bytes \d+\.\.\d+ but the file has \d+$/);
    expectUserError(() => zipEntryData(zip, { ...entry, localHeaderOffset: 5 }), 'zip archive is damaged: no local header for record "b.bin" at byte 5');
  });

  it('refuses 32-bit all-ones values without zip64 records', () => {
    const zip = makeZip(entries);
    const view = new DataView(zip.buffer);
    view.setUint32(zip.length - 6, 0xffffffff, true);
    expectUserError(() => readZip(zip), 'zip archive is damaged: it needs zip64 records but has no zip64 end-of-central-directory locator');
  });

  it('refuses a zip64 entry without its zip64 extra field', () => {
    const zip = makeZip([{ name: 'a', data: utf8('x') }]);
    const cdOffset = new DataView(zip.buffer).getUint32(zip.length - 6, true);
    new DataView(zip.buffer).setUint32(cdOffset + 24, 0xffffffff, true);
    expectUserError(() => readZip(zip), 'zip archive is damaged: entry "a" needs a zip64 extra field but has none');
  });

  it('refuses split archives', () => {
    const zip = makeZip(entries);
    new DataView(zip.buffer).setUint16(zip.length - 22 + 4, 1, true);
    expectUserError(() => readZip(zip), 'zip archive spans several disks (a split archive), which is not supported');
  });
});
