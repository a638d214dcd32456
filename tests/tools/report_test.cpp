// The report: one self-contained HTML file holding every chart.
#include <gtest/gtest.h>

#include "tests/tools/tools_test_util.h"
#include "tools/report.h"

namespace skipper::test {
namespace {

void expect_every_chart(const std::string& html) {
    for (const auto& id : tools::report_chart_ids()) {
        const size_t at = html.find("<figure id=\"" + id + "\"");
        ASSERT_NE(at, std::string::npos) << "chart '" << id << "' is missing";
        const size_t end = html.find("</figure>", at);
        const std::string figure = html.substr(at, end - at);
        EXPECT_NE(figure.find("<svg"), std::string::npos) << id << " has no SVG";
        EXPECT_TRUE(figure.find("<rect") != std::string::npos || figure.find("<polyline") != std::string::npos)
            << id << " draws nothing";
    }
}

void expect_self_contained(const std::string& html) {
    // Opens offline: no scripts, stylesheets or images from anywhere else.
    for (const char* outside : {"<script", "src=", "<link", "@import", "url("})
        EXPECT_EQ(html.find(outside), std::string::npos) << outside;
    EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_NE(html.find("</html>"), std::string::npos);
}

TEST(ReportTest, ReportCommandWritesEveryChart) {
    TempDir dir;
    const std::string path = dir.file("report.html");
    const auto r = run_skipper({"report", "sessions=60", "num_iterations=10", "min_data_in_leaf=5", "out=" + path});
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string html = read_text(path);
    expect_every_chart(html);
    expect_self_contained(html);
    // The curves have one point per boosting round, and importance names real features.
    EXPECT_NE(html.find("logloss"), std::string::npos);
    EXPECT_NE(html.find("hist_user_behavior_reason_start"), std::string::npos);
    EXPECT_NE(html.find("editorial_playlist"), std::string::npos);
}

TEST(ReportTest, ChartIdsAreUnique) {
    const auto& ids = tools::report_chart_ids();
    EXPECT_EQ(ids.size(), 8u);
    for (size_t i = 0; i < ids.size(); ++i)
        for (size_t j = i + 1; j < ids.size(); ++j) EXPECT_NE(ids[i], ids[j]);
}

}  // namespace
}  // namespace skipper::test
