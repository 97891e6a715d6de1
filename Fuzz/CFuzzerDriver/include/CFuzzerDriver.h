#ifndef C_FUZZER_DRIVER_H
#define C_FUZZER_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (in libclang_rt.fuzzer, linked by -sanitize=fuzzer): parses the libFuzzer
/// flags in argv and runs `callback` on each input. SwiftPM links an executable's `main` to
/// `<Target>_main`, so the fuzz target defines that function and calls this driver from it.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
