// The header compiles as C++ (extern "C" linkage) and links against the library.
#include "buildnet.h"
#include "buildnet.h"

#include <cstring>
#include <string>

int main() {
    std::string version = buildnet_version();
    uint8_t out[32];
    if (buildnet_blake3(reinterpret_cast<const uint8_t *>("abc"), 3, out) != BUILDNET_OK) return 1;
    // blake3("abc") starts with 64 37 (tests/vectors/hashes.json).
    if (out[0] != 0x64 || out[1] != 0x37) return 2;
    BuildNetHandle *none = nullptr;
    if (buildnet_start(none) != BUILDNET_ERR_INVALID_ARGUMENT) return 3;
    return version.empty() ? 4 : 0;
}
