import FerryCore
import FerryDocker
import FerryTestSupport
import Foundation
import Testing

extension ContainerSwitchTests {
    /// docs/rollouts.md, start-first: clients that reach the container by its name on a user
    /// network (Docker's DNS) must never meet the stopping old container. An audit counted 20
    /// failed requests in a row when the old one was stopped before the name moved.
    @Test("start-first: the name moves to the new container before the old one stops, so clients reaching it by name see no gap")
    func startFirstMovesTheNameBeforeStopping() async throws {
        let engine = try await Self.engine(taggedAs: "byname/app")
        let network = "byname-net"
        _ = try await engine.docker(["network", "create", network])
        // Serves its APP_VERSION on :8080; on SIGTERM stops serving at once, then takes 3 s to exit.
        let serve = "echo $APP_VERSION > /srv/index.html; /bin/busybox httpd -f -p 8080 -h /srv & pid=$!; trap 'kill $pid; /bin/busybox sleep 3; exit 0' TERM; while true; do /bin/busybox sleep 1; done"
        try Self.check(await engine.docker(["run", "-d", "--name", "byname-web", "--network", network, "byname/app:1.0", "/bin/sh", "-c", serve]))
        // Resolved by Docker's DNS each time (busybox's own resolver: a static glibc's crashes),
        // then one HTTP request: the body, or FAIL.
        let probe = #"""
            while true; do
              ip=$(/bin/busybox nslookup byname-web 127.0.0.11 2>/dev/null | /bin/busybox awk '/^Address/ && !/127.0.0.11/ {print $2}' | /bin/busybox tail -1)
              body=$(printf 'GET / HTTP/1.0\r\n\r\n' | /bin/busybox nc -w 1 "$ip" 8080 2>/dev/null | /bin/busybox tail -1)
              if [ -n "$body" ]; then echo "$body"; else echo FAIL; fi
              /bin/busybox sleep 0.1
            done
            """#
        try Self.check(await engine.docker(["run", "-d", "--name", "byname-client", "--network", network, "byname/app:1.0", "/bin/sh", "-c", probe]))
        try await waitUntil("the client reaches the old container by name") {
            (try await engine.docker(["logs", "byname-client"])).stdout.contains("1.0")
        }
        let old = try #require(try await engine.client.inspectContainer("byname-web"))
        let switcher = ContainerSwitch(client: engine.client, journal: MemorySwitchJournal(), options: Self.options(.startFirst))
        let outcome = try await switcher.switchContainer(old, to: "byname/app:1.1", rollout: "r9")
        #expect(outcome.passed, "\(outcome.failure ?? "")")
        try await waitUntil("the client reaches the new container by name") {
            (try await engine.docker(["logs", "byname-client"])).stdout.contains("1.1")
        }
        let lines = try await engine.docker(["logs", "byname-client"]).stdout.split(separator: "\n")
        let failures = lines.filter { $0 == "FAIL" }.count
        #expect(failures <= 2, "requests by name failed during the switch: \(failures) of \(lines.count)")
        _ = try await engine.docker(["rm", "-f", "byname-client", "byname-web"])
        _ = try await engine.docker(["network", "rm", network])
    }
}
