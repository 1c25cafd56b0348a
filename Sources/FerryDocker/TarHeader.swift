import FerryCore

/// One 512-byte tar header block, written the way GNU tar writes `--format=ustar` headers.
///
/// Headers are deterministic: modification time 0, uid and gid 0, no user or group names.
/// Names longer than 100 bytes are split into the ustar `prefix` and `name` fields at a `/`.
/// Sizes of 8 GiB and more, which do not fit ustar's 11 octal digits, use GNU tar's base-256
/// form (first byte `0x80`, then the size as a big-endian binary number), which GNU tar, Go's
/// `archive/tar` (and so dockerd) and bsdtar read.
public struct TarHeader: Sendable, Hashable {
    /// The kinds of entries Ferry writes.
    public enum Kind: UInt8, Sendable, Hashable {
        /// A regular file (typeflag `'0'`).
        case file = 0x30
        /// A directory (typeflag `'5'`); its name should end with `/`.
        case directory = 0x35
    }

    /// The size of a header, and the unit tar pads file contents to.
    public static let blockSize = 512
    /// The largest size the 11 octal digits of the ustar size field can hold.
    public static let maximumOctalSize: Int64 = 0o77777777777

    /// The path inside the archive (relative, `/`-separated; directories end with `/`).
    public var name: String
    /// The content size in bytes.
    public var size: Int64
    /// Permission bits (`0o644`).
    public var mode: UInt32
    public var kind: Kind
    /// Seconds since the epoch.
    public var modificationTime: Int64

    /// - Parameters:
    ///   - name: the path inside the archive (relative, `/`-separated).
    ///   - size: the content size in bytes (0 for directories).
    ///   - mode: permission bits; files default to `0644`, directories to `0755`.
    ///   - kind: file or directory.
    ///   - modificationTime: seconds since the epoch; 0 keeps archives reproducible.
    public init(name: String, size: Int64 = 0, mode: UInt32? = nil, kind: Kind = .file, modificationTime: Int64 = 0) {
        self.name = name
        self.size = size
        self.mode = mode ?? (kind == .directory ? 0o755 : 0o644)
        self.kind = kind
        self.modificationTime = modificationTime
    }

    /// `size` rounded up to whole 512-byte blocks: the bytes the content takes in the archive.
    public static func paddedSize(_ size: Int64) -> Int64 {
        (size + Int64(blockSize) - 1) / Int64(blockSize) * Int64(blockSize)
    }

    /// The bytes an entry of `size` content bytes takes in an archive, header included.
    public static func entrySize(contentSize size: Int64) -> Int64 {
        Int64(blockSize) + paddedSize(size)
    }

    /// The 512 header bytes.
    ///
    /// Throws ``FerryError/Code/invalidArgument`` for a name that fits neither the 100-byte
    /// `name` field nor a `prefix`/`name` split, or a negative size.
    public func encoded() throws(FerryError) -> [UInt8] {
        guard size >= 0 else { throw FerryError(.invalidArgument, "tar entry '\(name)' has a negative size") }
        let (prefix, shortName) = try Self.split(name)
        var block = [UInt8](repeating: 0, count: Self.blockSize)
        block.put(shortName, at: 0, width: 100)
        block.put(Self.octal(Int64(mode), width: 8), at: 100, width: 8)
        block.put(Self.octal(0, width: 8), at: 108, width: 8)  // uid
        block.put(Self.octal(0, width: 8), at: 116, width: 8)  // gid
        if size <= Self.maximumOctalSize {
            block.put(Self.octal(size, width: 12), at: 124, width: 12)
        } else {
            // GNU base-256: 0x80 marker, then the value big-endian in the remaining 11 bytes.
            block[124] = 0x80
            for index in 0..<8 { block[135 - index] = UInt8(truncatingIfNeeded: size >> (8 * index)) }
        }
        block.put(Self.octal(modificationTime, width: 12), at: 136, width: 12)
        block.put(Array(repeating: 0x20, count: 8), at: 148, width: 8)  // checksum placeholder: spaces
        block[156] = kind.rawValue
        block.put(Array("ustar\u{0}00".utf8), at: 257, width: 8)
        block.put(Self.octal(0, width: 8), at: 329, width: 8)  // devmajor
        block.put(Self.octal(0, width: 8), at: 337, width: 8)  // devminor
        block.put(prefix, at: 345, width: 155)
        let checksum = block.reduce(0) { $0 + Int64($1) }
        // Six octal digits, NUL, space: as GNU tar writes it.
        block.put(Self.octal(checksum, width: 7) + [0x20], at: 148, width: 8)
        return block
    }

    /// `value` as `width - 1` zero-padded octal digits and a NUL.
    static func octal(_ value: Int64, width: Int) -> [UInt8] {
        let digits = Array(String(value, radix: 8).utf8)
        return Array(repeating: 0x30, count: max(0, width - 1 - digits.count)) + digits + [0]
    }

    /// The ustar (prefix, name) fields for a path.
    static func split(_ path: String) throws(FerryError) -> (prefix: [UInt8], name: [UInt8]) {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, !bytes.contains(0) else {
            throw FerryError(.invalidArgument, "tar entry name '\(path)' is empty or contains NUL")
        }
        if bytes.count <= 100 { return ([], bytes) }
        // The prefix ends at a '/' that is not kept; the rest (≤ 100 bytes, not empty) is the name.
        for index in bytes.indices.reversed() where bytes[index] == 0x2f {
            let prefix = Array(bytes[..<index])
            let name = Array(bytes[(index + 1)...])
            if name.count > 100 { break }
            if prefix.count <= 155 && !name.isEmpty { return (prefix, name) }
        }
        throw FerryError(.invalidArgument, "tar entry name '\(path.prefix(300))' is too long for a ustar header")
    }
}

extension [UInt8] {
    fileprivate mutating func put(_ bytes: [UInt8], at offset: Int, width: Int) {
        precondition(bytes.count <= width)
        replaceSubrange(offset..<(offset + bytes.count), with: bytes)
    }
}
