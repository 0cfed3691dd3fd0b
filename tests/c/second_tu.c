/* A second translation unit including the header: no definitions may clash at link time. */
#include "hostgate.h"

int second_tu_version_major(void);

int second_tu_version_major(void) { return HOSTGATE_VERSION_MAJOR; }
