// Crafted model files: a valid file changed in one field must be refused by
// the learner's loader, with the file's name and the field in the message.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/serialize.h"

namespace skipper::test {

struct CraftedModelFile {
    const char* what;
    std::function<void(ModelFile&)> change;
    const char* message;  // part of the expected error
};

// `load(bytes, name)` is the learner's loader. The crafted file still has a
// valid checksum and container, so only the loader can catch the change.
template <class Load>
void expect_each_crafted_file_refused(const std::function<ModelFile()>& valid_file,
                                      const std::vector<CraftedModelFile>& cases, Load load) {
    for (const CraftedModelFile& c : cases) {
        ModelFile file = valid_file();
        c.change(file);
        const std::vector<uint8_t> bytes = serialize_model(file);
        ASSERT_NO_THROW(deserialize_model(bytes, "crafted.skm")) << c.what;
        try {
            load(bytes, "crafted.skm");
            ADD_FAILURE() << c.what << ": loaded";
        } catch (const FormatError& e) {
            const std::string message = e.what();
            EXPECT_NE(message.find("crafted.skm"), std::string::npos) << c.what << ": " << message;
            EXPECT_NE(message.find(c.message), std::string::npos) << c.what << ": " << message;
        }
    }
}

}  // namespace skipper::test
