import Logging

extension Logger {
    /// This logger for AsyncHTTPClient's own records: never below `debug`. At `trace` the client logs
    /// the first and last bytes of every body it receives, which for a token endpoint is the token.
    public var forHTTPClient: Logger {
        var logger = self
        if logger.logLevel < .debug { logger.logLevel = .debug }
        return logger
    }
}
