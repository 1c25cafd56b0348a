import FerryCore
import Foundation
import UnixSignals

/// While a command follows work that goes on without it on the leader (an install, a rollout),
/// SIGINT (Ctrl-C) or SIGTERM ends the command with a line saying that the work goes on and how
/// to follow or stop it, and the exit status of the signal (130, 143). Before, it ended silently,
/// which reads as "cancelled".
enum DetachOnSignal {
    /// Starts watching; ``end(_:)`` it as soon as the follow is over, before the final output.
    static func watch(_ message: String) -> Task<Void, Never> {
        Task {
            for await signal in await UnixSignalsSequence(trapping: .sigint, .sigterm) {
                // A new line first: a terminal's progress lines are redrawn in place.
                FileOutput.standardError.write("\nferry: \(message)\n")
                Foundation.exit(signal == .sigint ? 130 : 143)
            }
        }
    }

    /// Stops watching and gives SIGINT and SIGTERM their default action back (a cancelled watch
    /// would leave them ignored): the final output is written whole, and a signal after it ends
    /// the process as usual.
    static func end(_ watch: Task<Void, Never>) {
        watch.cancel()
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
