#ifndef FERRY_CLIBFUZZER_H
#define FERRY_CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt FuzzerInterface.h), linked in by `-sanitize=fuzzer`. The fuzz
/// targets call it from their `@main` because SwiftPM renames an executable's `main`.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
