// Prints the metrics text of the fixed sample input, for metrics_format_test.py.
#include "metrics_sample.hpp"

#include <cstdio>

int main()
{
    const std::string text = hyv::daemon::render_metrics(hyv::test::sample_metrics_input());
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
}
