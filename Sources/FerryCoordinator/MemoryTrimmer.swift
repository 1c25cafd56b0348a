import FerryServer
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Returns memory freed by closed connections to the system.
///
/// An idle TLS connection (TLS state, buffers, its pipeline) holds ~50 KB of malloc'd memory;
/// glibc keeps what closed ones free in its arenas instead of unmapping it, so after 10,000 idle
/// connections closed a leader stayed ~500 MB above its baseline for good. Every ``interval``
/// (a ``PeriodicTask``), when at least
/// ``burst`` connections closed since the last trim, this calls `malloc_trim(0)`, which gives
/// the free pages of every arena back (a few milliseconds). Measured in `docs/reliability.md`.
struct MemoryTrimmer: Service {
    /// How often the gauge is checked. Default 5 s.
    var interval: Duration = .seconds(5)
    /// Closed connections that make a trim worth it. Default 256.
    var burst = 256
    let gauge: ConnectionGauge
    let logger: Logger

    func run() async {
        let trimmedAt = Mutex(gauge.closed)
        await PeriodicTask(every: interval) { [gauge, burst, logger] in
            let closed = gauge.closed
            guard trimmedAt.withLock({ last in
                guard closed - last >= burst else { return false }
                last = closed
                return true
            }) else { return }
            Self.trim()
            logger.debug("returned freed memory to the system", metadata: ["connections.closed": "\(closed)", "connections.open": "\(gauge.open)"])
        }.run()
    }

    /// Releases free memory at the top and inside of every malloc arena (glibc only).
    static func trim() {
        #if canImport(Glibc)
        _ = mallocTrim?(0)
        #endif
    }

    #if canImport(Glibc)
    /// glibc's `malloc_trim`, looked up at run time: `malloc.h` is not in Swift's Glibc module.
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    }()
    #endif
}
