#ifndef SMC_CARGON2_SHIM_H
#define SMC_CARGON2_SHIM_H
#include <argon2.h>
#endif
