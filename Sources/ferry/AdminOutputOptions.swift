import ArgumentParser

/// What the commands that ask the leader's admin API take besides their own arguments: where the
/// leader is (``LeaderConnection``) and `--json`, and how they print the answer.
struct AdminOutputOptions: ParsableArguments {
    @OptionGroup var connection: LeaderConnection

    @Flag(help: "Print JSON.")
    var json = false

    /// Prints `answer` as JSON with `--json`, else the text `text` makes of it.
    func print<Answer: Encodable>(_ answer: Answer, text: (Answer) -> String) throws {
        if json {
            try FileOutput.standardOutput.writeJSON(answer)
        } else {
            FileOutput.standardOutput.write(text(answer))
        }
    }

    /// Prints `answer` as JSON with `--json`, else as a table (``printTable(_:)``): `header`, then
    /// the rows `rows` makes of it.
    func print<Answer: Encodable>(_ answer: Answer, header: [String], rows: (Answer) -> [[String]]) throws {
        if json { return try FileOutput.standardOutput.writeJSON(answer) }
        printTable([header] + rows(answer))
    }
}
