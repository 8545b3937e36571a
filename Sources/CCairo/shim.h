#ifndef SMC_CCAIRO_SHIM_H
#define SMC_CCAIRO_SHIM_H
#include <cairo/cairo.h>
#endif
