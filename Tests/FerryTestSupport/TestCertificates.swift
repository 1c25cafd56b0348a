import Foundation

/// A throwaway CA and a server certificate it signed, made with openssl.
public struct TestCertificates: Sendable {
    public let caCertificate: String
    public let serverCertificate: String
    public let serverKey: String

    /// Writes a CA and a certificate for `names` (DNS subject alternative names) into `directory`.
    public static func make(in directory: String, names: [String]) async throws -> TestCertificates {
        let ca = "\(directory)/ca.pem", caKey = "\(directory)/ca.key"
        let cert = "\(directory)/server.pem", key = "\(directory)/server.key", csr = "\(directory)/server.csr"
        let ext = "\(directory)/server.ext"
        let openssl = "/usr/bin/openssl"
        try await runChecked(openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                       "-keyout", caKey, "-out", ca, "-subj", "/CN=ferry-test-ca", "-days", "2"])
        try await runChecked(openssl, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                       "-keyout", key, "-out", csr, "-subj", "/CN=\(names[0])"])
        try "subjectAltName=\(names.map { "DNS:\($0)" }.joined(separator: ","))\n".write(toFile: ext, atomically: true, encoding: .utf8)
        try await runChecked(openssl, ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial",
                                       "-out", cert, "-days", "2", "-extfile", ext])
        return TestCertificates(caCertificate: ca, serverCertificate: cert, serverKey: key)
    }
}
