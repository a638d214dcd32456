// A real browser on the form page: headless Chromium (Debian's `chromium`),
// driven over the DevTools protocol on a pipe, picks values in the dropdowns,
// presses Predict and reads the verdict. The screenshot of the answer is kept
// in the test's working folder (the build's tests/ folder) as
// browser_test_verdict.png.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/tools/tools_test_util.h"
#include "tools/server.h"

extern char** environ;

namespace skipper::test {
namespace {

using nlohmann::json;

std::string find_chromium() {
    for (const char* path : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
        if (std::filesystem::exists(path)) return path;
    return "";
}

std::string base64_decode(const std::string& text) {
    std::string out;
    uint32_t buffer = 0;
    int bits = 0;
    for (const char c : text) {
        int value;
        if (c >= 'A' && c <= 'Z') value = c - 'A';
        else if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
        else if (c >= '0' && c <= '9') value = c - '0' + 52;
        else if (c == '+') value = 62;
        else if (c == '/') value = 63;
        else continue;
        buffer = (buffer << 6) | static_cast<uint32_t>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xFF);
        }
    }
    return out;
}

// Chromium with --remote-debugging-pipe reads DevTools commands on its fd 3 and
// writes answers and events on its fd 4, each message ending with a NUL byte.
class Chromium {
public:
    Chromium(const std::string& binary, const std::string& profile_dir) {
        int to_browser[2], from_browser[2];
        if (pipe(to_browser) != 0 || pipe(from_browser) != 0) throw std::runtime_error("pipe failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, to_browser[0], 3);
        posix_spawn_file_actions_adddup2(&actions, from_browser[1], 4);
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
        const std::vector<std::string> args = {binary,
                                               "--headless",
                                               "--no-sandbox",
                                               "--disable-gpu",
                                               "--disable-dev-shm-usage",
                                               "--no-first-run",
                                               "--remote-debugging-pipe",
                                               "--window-size=900,1100",
                                               "--user-data-dir=" + profile_dir,
                                               "about:blank"};
        std::vector<char*> argv;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        const int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        close(to_browser[0]);
        close(from_browser[1]);
        write_fd_ = to_browser[1];
        read_fd_ = from_browser[0];
        if (rc != 0) throw std::runtime_error("cannot start " + binary);
    }
    ~Chromium() {
        close(write_fd_);
        close(read_fd_);
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }
    Chromium(const Chromium&) = delete;
    Chromium& operator=(const Chromium&) = delete;

    // Sends one command and waits for its answer (events in between are dropped).
    json call(const std::string& method, const json& params = json::object(), const std::string& session = "") {
        const int id = ++next_id_;
        json message = {{"id", id}, {"method", method}, {"params", params}};
        if (!session.empty()) message["sessionId"] = session;
        std::string bytes = message.dump();
        bytes.push_back('\0');
        for (size_t sent = 0; sent < bytes.size();) {
            const ssize_t n = write(write_fd_, bytes.data() + sent, bytes.size() - sent);
            if (n <= 0) throw std::runtime_error("the browser closed its pipe");
            sent += static_cast<size_t>(n);
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        for (;;) {
            const json answer = read_message(deadline);
            if (answer.value("id", -1) != id) continue;
            if (answer.contains("error")) throw std::runtime_error(method + ": " + answer["error"].dump());
            return answer["result"];
        }
    }

private:
    json read_message(std::chrono::steady_clock::time_point deadline) {
        for (;;) {
            const size_t end = pending_.find('\0');
            if (end != std::string::npos) {
                const std::string text = pending_.substr(0, end);
                pending_.erase(0, end + 1);
                return json::parse(text);
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) throw std::runtime_error("the browser did not answer in time");
            pollfd fd{read_fd_, POLLIN, 0};
            if (poll(&fd, 1, static_cast<int>(left.count())) <= 0) continue;
            char buffer[65536];
            const ssize_t n = read(read_fd_, buffer, sizeof buffer);
            if (n <= 0) throw std::runtime_error("the browser exited");
            pending_.append(buffer, static_cast<size_t>(n));
        }
    }

    pid_t pid_ = -1;
    int write_fd_ = -1, read_fd_ = -1;
    int next_id_ = 0;
    std::string pending_;
};

std::string evaluate(Chromium& browser, const std::string& session, const std::string& expression) {
    const json result = browser.call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}}, session);
    if (result.contains("exceptionDetails")) throw std::runtime_error("script failed: " + result.dump());
    const auto& value = result["result"];
    return value.contains("value") && value["value"].is_string() ? value["value"].get<std::string>() : "";
}

// Polls until the page's #verdict holds text (the form's answer page has loaded).
std::string wait_for_verdict(Chromium& browser, const std::string& session) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
        try {
            const std::string text =
                evaluate(browser, session, "(document.getElementById('verdict') || {textContent: ''}).textContent");
            if (!text.empty()) return text;
        } catch (const std::runtime_error&) {
            // The page is between documents while the form posts.
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return "";
}

TEST(BrowserTest, FillTheFormPressPredictReadTheVerdict) {
    const std::string chromium = find_chromium();
    if (chromium.empty()) GTEST_SKIP() << "chromium is not installed (apt-get install chromium)";
    TempDir dir;
    const std::shared_ptr<const tools::Predictor> predictor =
        tools::load_predictor(train_tiny_model(dir, "gbdt_seed.bin", "gbdt", {}));
    tools::ServerOptions options;
    options.port = 0;
    options.threads = 8;
    tools::PredictionServer server(predictor, options);
    const std::string url = "http://127.0.0.1:" + std::to_string(server.start()) + "/";

    Chromium browser(chromium, dir.file("profile"));
    const std::string target = browser.call("Target.createTarget", {{"url", "about:blank"}})["targetId"];
    const std::string session =
        browser.call("Target.attachToTarget", {{"targetId", target}, {"flatten", true}})["sessionId"];
    browser.call("Page.enable", json::object(), session);
    browser.call("Page.navigate", {{"url", url}}, session);

    const auto choose_and_predict = [&](const std::string& reason_end) {
        // Waits for the whole form (a page still being parsed has some selects, and some of their
        // options, and not others), picks values as a user would, and presses Predict.
        const std::string script =
            "(() => { if (document.readyState !== 'complete') return 'page not ready';"
            " const pick = (id, v) => { const s = document.getElementById(id); if (!s) return 'missing ' + id;"
            " s.value = v; s.dispatchEvent(new Event('change')); return s.value === v ? '' : 'no option ' + v; };"
            " const problems = [pick('context_type', 'radio'), pick('premium', '1'), pick('hour_of_day', '21'),"
            " pick('hist_user_behavior_reason_start', 'clickrow'), pick('hist_user_behavior_reason_end', '" +
            reason_end +
            "')].filter(p => p).join('; ');"
            " if (problems) return problems; document.getElementById('predict').click(); return 'pressed'; })()";
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        std::string outcome;
        while (std::chrono::steady_clock::now() < deadline) {
            try {
                outcome = evaluate(browser, session, script);
            } catch (const std::runtime_error&) {
                outcome = "page not ready";
            }
            if (outcome == "pressed" || outcome.find("no option") != std::string::npos) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        EXPECT_EQ(outcome, "pressed");
    };

    choose_and_predict("fwdbtn");
    std::string verdict = wait_for_verdict(browser, session);
    EXPECT_NE(verdict.find("The track will be skipped"), std::string::npos) << verdict;
    const std::string shot = browser.call("Page.captureScreenshot", {{"format", "png"}}, session)["data"];
    const std::string png = base64_decode(shot);
    EXPECT_EQ(png.substr(1, 3), "PNG");
    std::ofstream("browser_test_verdict.png", std::ios::binary) << png;

    // The answer page keeps the form; the same browser asks again.
    choose_and_predict("trackdone");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (verdict.find("not be skipped") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        verdict = wait_for_verdict(browser, session);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_NE(verdict.find("The track will not be skipped"), std::string::npos) << verdict;
    // The form remembers the user's choice.
    EXPECT_EQ(evaluate(browser, session, "document.getElementById('context_type').value"), "radio");
}

}  // namespace
}  // namespace skipper::test
