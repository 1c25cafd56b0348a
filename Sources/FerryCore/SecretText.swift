/// Secrets (tokens, credentials) read from files, flags and the environment.
public enum SecretText {
    /// Refuses a secret holding a space or a control character (a carriage return from a file
    /// written on Windows, a NUL): an HTTP header cannot carry it, and the HTTP client's error
    /// would print the whole header. The message names `what` and where to look, never the secret.
    public static func refuseUnprintable(_ secret: String, what: String, from source: String) throws(FerryError) {
        guard secret.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else { return }
        throw FerryError(
            .configuration, "the \(what) holds a space or control character (a stray carriage return?): check \(source); it is not shown here")
    }
}
