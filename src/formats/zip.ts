/**
 * Zip archives, read through the central directory, without decompressing anything.
 *
 * PyTorch's `torch.save` (the default "zipfile" serialization since 1.6) writes a zip whose
 * records are *stored* (method 0, no compression) and whose data start at 64-byte aligned
 * offsets, so that the tensors can be mapped straight from the file. That is all this reader
 * needs to support: stored entries come back as `subarray` views on the input bytes (no copy,
 * which matters for the 233 MB torchvision file); compressed or encrypted entries are listed but
 * refused when asked for.
 *
 * Layout (PKWARE APPNOTE.TXT 6.3, sections 4.3.7, 4.3.12, 4.3.14-16, 4.5.3):
 *
 *   [local file header 1][data 1] ... [local file header n][data n]
 *   [central directory: one header per entry]
 *   [zip64 end of central directory record]        only when zip64 is needed
 *   [zip64 end of central directory locator]       only when zip64 is needed
 *   [end of central directory record][comment]
 *
 *   end of central directory (EOCD), 22 bytes + comment, found by searching backwards:
 *     0 u32 0x06054b50   4 u16 this disk   6 u16 disk of CD   8 u16 entries on this disk
 *    10 u16 entries      12 u32 CD size   16 u32 CD offset    20 u16 comment length
 *   zip64 EOCD locator, the 20 bytes just before the EOCD:
 *     0 u32 0x07064b50   4 u32 disk of zip64 EOCD   8 u64 offset of zip64 EOCD   16 u32 disks
 *   zip64 EOCD record:
 *     0 u32 0x06064b50   4 u64 record size   12 u16 made by   14 u16 needed   16 u32 disk
 *    20 u32 disk of CD  24 u64 entries on disk  32 u64 entries  40 u64 CD size  48 u64 CD offset
 *   central directory header, 46 bytes + name + extra + comment:
 *     0 u32 0x02014b50   8 u16 flags   10 u16 method   20 u32 compressed size
 *    24 u32 size  28 u16 name length  30 u16 extra length  32 u16 comment length
 *    34 u16 disk  42 u32 local header offset  46 name
 *   local file header, 30 bytes + name + extra, then the data:
 *     0 u32 0x04034b50   26 u16 name length   28 u16 extra length
 *
 * A 32-bit size or offset (or a 16-bit count) of all ones means "see the zip64 field": the zip64
 * extra field (header id 0x0001) of a central directory header holds, in this order and only for
 * the fields that were all ones, the u64 size, u64 compressed size, u64 local header offset and
 * u32 disk. The local header's own extra field (PyTorch pads it for alignment) is skipped by its
 * length: the data start at local offset + 30 + name length + extra length.
 */

import { UserError } from '../errors.js';

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflate, ... (APPNOTE 4.4.5). */
  method: number;
  /** General purpose flags; bit 0 means encrypted. */
  flags: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local file header in the archive. */
  localHeaderOffset: number;
}

export interface ZipArchive {
  /** In central directory order. */
  entries: ZipEntry[];
  /** Whether the archive used zip64 records or fields. */
  zip64: boolean;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const EOCD_SIZE = 22;
const LOCATOR_SIZE = 20;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
const U16_ALL_ONES = 0xffff;
const U32_ALL_ONES = 0xffffffff;

const METHOD_NAMES: Record<number, string> = { 0: 'stored', 8: 'deflate', 9: 'deflate64', 12: 'bzip2', 14: 'lzma', 93: 'zstd', 95: 'xz' };

/** True when the bytes start like a zip archive (a local file header, or an empty archive). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b &&
    ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6));
}

/** Reads the central directory. Throws UserError on a truncated or damaged archive. */
export function readZip(bytes: Uint8Array): ZipArchive {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = findEndOfCentralDirectory(bytes, view);
  let entryCount = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  const disk = view.getUint16(eocd + 4, true);
  const cdDisk = view.getUint16(eocd + 6, true);

  let zip64 = false;
  const locator = eocd - LOCATOR_SIZE;
  if (locator >= 0 && view.getUint32(locator, true) === SIG_ZIP64_LOCATOR) {
    zip64 = true;
    const recordOffset = u64(view, locator + 8, 'zip64 end-of-central-directory offset');
    if (recordOffset + 56 > locator) {
      throw new UserError(`zip archive is damaged: the zip64 end-of-central-directory record at byte ${recordOffset} lies past its locator`);
    }
    if (view.getUint32(recordOffset, true) !== SIG_ZIP64_EOCD) {
      throw new UserError(`zip archive is damaged: no zip64 end-of-central-directory record at byte ${recordOffset}`);
    }
    if (view.getUint32(recordOffset + 16, true) !== 0 || view.getUint32(recordOffset + 20, true) !== 0) {
      throw new UserError('zip archive spans several disks (a split archive), which is not supported');
    }
    entryCount = u64(view, recordOffset + 32, 'zip64 entry count');
    cdSize = u64(view, recordOffset + 40, 'zip64 central directory size');
    cdOffset = u64(view, recordOffset + 48, 'zip64 central directory offset');
  } else {
    if (disk !== 0 || cdDisk !== 0) throw new UserError('zip archive spans several disks (a split archive), which is not supported');
    if (entryCount === U16_ALL_ONES || cdSize === U32_ALL_ONES || cdOffset === U32_ALL_ONES) {
      throw new UserError('zip archive is damaged: it needs zip64 records but has no zip64 end-of-central-directory locator');
    }
  }

  const cdEnd = cdOffset + cdSize;
  if (cdEnd > eocd || entryCount * CENTRAL_SIZE > cdSize) {
    throw new UserError(
      `zip archive is truncated or damaged: its central directory (${entryCount} entries, bytes ${cdOffset}..${cdEnd}) ` +
        `does not fit before the end record at byte ${eocd}`,
    );
  }

  const entries: ZipEntry[] = [];
  let at = cdOffset;
  for (let i = 0; i < entryCount; i++) {
    if (at + CENTRAL_SIZE > cdEnd || view.getUint32(at, true) !== SIG_CENTRAL) {
      throw new UserError(`zip archive is damaged: central directory entry ${i} at byte ${at} has no valid header`);
    }
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let entryDisk = view.getUint16(at + 34, true);
    let localHeaderOffset = view.getUint32(at + 42, true);
    const nameStart = at + CENTRAL_SIZE;
    const extraStart = nameStart + nameLength;
    const next = extraStart + extraLength + commentLength;
    if (next > cdEnd) throw new UserError(`zip archive is damaged: central directory entry ${i} runs past the directory's end`);
    const name = new TextDecoder('utf-8').decode(bytes.subarray(nameStart, extraStart));

    if (size === U32_ALL_ONES || compressedSize === U32_ALL_ONES || localHeaderOffset === U32_ALL_ONES || entryDisk === U16_ALL_ONES) {
      // The zip64 extended information extra field holds the real values, in this order,
      // only for the fields that were all ones.
      const field = findExtraField(view, extraStart, extraStart + extraLength, 0x0001);
      if (!field) throw new UserError(`zip archive is damaged: entry "${name}" needs a zip64 extra field but has none`);
      let p = field.start;
      const take8 = (what: string): number => {
        if (p + 8 > field.end) throw new UserError(`zip archive is damaged: the zip64 extra field of "${name}" has no ${what}`);
        const v = u64(view, p, `${what} of "${name}"`);
        p += 8;
        return v;
      };
      if (size === U32_ALL_ONES) size = take8('size');
      if (compressedSize === U32_ALL_ONES) compressedSize = take8('compressed size');
      if (localHeaderOffset === U32_ALL_ONES) localHeaderOffset = take8('local header offset');
      if (entryDisk === U16_ALL_ONES) {
        if (p + 4 > field.end) throw new UserError(`zip archive is damaged: the zip64 extra field of "${name}" has no disk number`);
        entryDisk = view.getUint32(p, true);
      }
      zip64 = true;
    }
    if (entryDisk !== 0) throw new UserError('zip archive spans several disks (a split archive), which is not supported');
    entries.push({ name, method, flags, compressedSize, size, localHeaderOffset });
    at = next;
  }
  return { entries, zip64 };
}

/**
 * The data of a stored entry, as a view on `bytes` (no copy). Compressed and encrypted entries
 * are refused: PyTorch never writes them.
 */
export function zipEntryData(bytes: Uint8Array, entry: ZipEntry): Uint8Array {
  if (entry.flags & 1) throw new UserError(`zip record "${entry.name}" is encrypted, which is not supported`);
  if (entry.method !== 0) {
    const how = METHOD_NAMES[entry.method] ?? `method ${entry.method}`;
    throw new UserError(
      `zip record "${entry.name}" is compressed (${how}); PyTorch stores its records uncompressed, ` +
        'so this archive was repacked: re-save it with torch.save, or unzip and re-zip it with `zip -0`',
    );
  }
  if (entry.compressedSize !== entry.size) {
    throw new UserError(`zip archive is damaged: stored record "${entry.name}" has size ${entry.size} but compressed size ${entry.compressedSize}`);
  }
  const at = entry.localHeaderOffset;
  if (at + LOCAL_SIZE > bytes.length) {
    throw new UserError(`zip archive is truncated: record "${entry.name}" starts at byte ${at}, past the end (${bytes.length} bytes)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(at, true) !== SIG_LOCAL) {
    throw new UserError(`zip archive is damaged: no local header for record "${entry.name}" at byte ${at}`);
  }
  const start = at + LOCAL_SIZE + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  const end = start + entry.size;
  if (end > bytes.length) {
    throw new UserError(`zip archive is truncated: record "${entry.name}" needs bytes ${start}..${end} but the file has ${bytes.length}`);
  }
  return bytes.subarray(start, end);
}

/** The EOCD's offset: the last signature whose comment length ends exactly at the end of the file. */
function findEndOfCentralDirectory(bytes: Uint8Array, view: DataView): number {
  const last = bytes.length - EOCD_SIZE;
  const first = Math.max(0, last - U16_ALL_ONES);
  let fallback = -1;
  for (let at = last; at >= first; at--) {
    if (bytes[at] !== 0x50 || view.getUint32(at, true) !== SIG_EOCD) continue;
    if (at + EOCD_SIZE + view.getUint16(at + 20, true) === bytes.length) return at;
    if (fallback < 0) fallback = at;
  }
  if (fallback >= 0) return fallback;
  throw new UserError(
    `zip archive is truncated or damaged: no end-of-central-directory record in its last ${bytes.length - first} bytes ` +
      '(was the download cut short?)',
  );
}

function findExtraField(view: DataView, start: number, end: number, id: number): { start: number; end: number } | undefined {
  let p = start;
  while (p + 4 <= end) {
    const fieldId = view.getUint16(p, true);
    const length = view.getUint16(p + 2, true);
    if (p + 4 + length > end) return undefined;
    if (fieldId === id) return { start: p + 4, end: p + 4 + length };
    p += 4 + length;
  }
  return undefined;
}

/** A u64 that must be a safe integer (any real offset or size is). */
function u64(view: DataView, at: number, what: string): number {
  if (at + 8 > view.byteLength) throw new UserError(`zip archive is truncated: ${what} at byte ${at} is past the end`);
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new UserError(`zip archive is damaged: ${what} is ${v}`);
  return Number(v);
}
