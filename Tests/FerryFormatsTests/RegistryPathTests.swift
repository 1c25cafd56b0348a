import FerryFormats
import Testing

@Suite("RegistryPath.parse")
struct RegistryPathTests {
    static let cases: [(String, RegistryPath?)] = [
        ("/v2", .base),
        ("/v2/", .base),
        ("/v2/app/manifests/latest", .manifest(name: "app", reference: "latest")),
        ("/v2/a/b/c/manifests/sha256:abc", .manifest(name: "a/b/c", reference: "sha256:abc")),
        ("/v2/app/blobs/sha256:abc", .blob(name: "app", digest: "sha256:abc")),
        ("/v2/lib/app/tags/list", .tags(name: "lib/app")),
        ("/v2/manifests/manifests/x", .manifest(name: "manifests", reference: "x")),
        ("/v2/blobs/tags/list", .tags(name: "blobs")),
        ("/v2/../../etc/blobs/sha256:abc", .blob(name: "../../etc", digest: "sha256:abc")),
        ("", nil),
        ("/", nil),
        ("/v1/", nil),
        ("/v2x", nil),
        ("/v2x/app/manifests/latest", nil),
        ("/v3/app/manifests/latest", nil),
        ("/v2/manifests/latest", nil),
        ("/v2/app/tags/other", nil),
        ("/v2/app/uploads/x", nil),
        ("/v2/app/blobs/uploads/", nil),
        ("/v2/app", nil),
        ("/healthz", nil),
    ]

    @Test(arguments: cases)
    func parse(_ path: String, _ expected: RegistryPath?) {
        #expect(RegistryPath.parse(path) == expected)
    }
}
