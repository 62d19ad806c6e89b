/* The header can be included twice, and compiles as strict C11 on its own. */
#include "buildnet.h"
#include "buildnet.h"

int main(void) {
    /* Every declaration is usable; the program only has to compile and link. */
    return buildnet_version() != NULL && BUILDNET_ERR_BUFFER_TOO_SMALL == -13 ? 0 : 1;
}
