import ArgumentParser
import FerryDiagnostics
import Logging

enum LogLevelOption: String, ExpressibleByArgument, CaseIterable {
    case trace, debug, info, notice, warning, error

    var level: Logger.Level { Logger.Level(rawValue: rawValue)! }
}

/// `--log-format`: lines for people, or one JSON object per line for log shippers.
enum LogFormatOption: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Sends logs to stderr at `level` in `format`. Called once per process.
func bootstrapLogging(level: LogLevelOption, format: LogFormatOption = .text) {
    LoggingSystem.bootstrap { label in
        switch format {
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level.level
            return handler
        case .json:
            var handler = JSONLogHandler(label: label) { line in FileOutput.standardError.write(line) }
            handler.logLevel = level.level
            return handler
        }
    }
}
