// NumPy .npy files (format 1.0-3.0, C order, little-endian), so that Python
// peers load exactly the matrices Skipper trains on.
#pragma once

#include <string>

#include "engine/tensor.h"

namespace skipper::data {

// Writes a host tensor (f32, f64, i32 or u8) as .npy format 1.0, atomically.
void write_npy(const std::string& path, const Tensor& tensor);

// Reads a .npy file holding f32, f64, i32 or u8 in C order. A malformed,
// truncated, Fortran-ordered or big-endian file is a DataError naming the file
// and what was expected.
Tensor read_npy(const std::string& path);

}  // namespace skipper::data
