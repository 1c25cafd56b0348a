/// Runs `body`, then `cleanup` — whether `body` returned or threw — and awaits it, so that
/// resources are released in order before the caller goes on.
func withAsyncCleanup<T>(_ body: () async throws -> T, cleanup: () async -> Void) async throws -> T {
    let result: T
    do {
        result = try await body()
    } catch {
        await cleanup()
        throw error
    }
    await cleanup()
    return result
}
