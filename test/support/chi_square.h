// Chi-square tests for the statistical checks of sampling (speculative sampling must keep the target distribution):
// goodness of fit of counts against known probabilities, and two-sample homogeneity of two sets of counts. Bins too
// small for the chi-square approximation (expected count under 5) are pooled into one. Header-only, pure functions.
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

namespace ll::test {

struct ChiSquare {
  double statistic = 0;
  int degrees = 0;
  double p_value = 1;  // the chance of a statistic this large when the hypothesis holds
};

// Q(a, x), the regularized upper incomplete gamma function (series below a + 1, continued fraction above).
inline double upper_incomplete_gamma(double a, double x) {
  if (x <= 0) return 1.0;
  const double log_prefix = -x + a * std::log(x) - std::lgamma(a);
  if (x < a + 1) {
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < 1000 && std::abs(term) > std::abs(sum) * 1e-15; ++n) {
      term *= x / (a + n);
      sum += term;
    }
    return 1.0 - sum * std::exp(log_prefix);
  }
  double b = x + 1 - a, c = 1e300, d = 1 / b, h = d;  // Lentz's method
  for (int i = 1; i < 1000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (std::abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const double step = d * c;
    h *= step;
    if (std::abs(step - 1) < 1e-15) break;
  }
  return std::exp(log_prefix) * h;
}

inline ChiSquare finish_chi_square(double statistic, int bins) {
  ChiSquare r;
  r.statistic = statistic;
  r.degrees = std::max(bins - 1, 1);
  r.p_value = upper_incomplete_gamma(r.degrees / 2.0, statistic / 2.0);
  return r;
}

// Observed counts per token against the probabilities each token should have (they sum to 1).
inline ChiSquare goodness_of_fit(const std::map<int, int>& observed, const std::vector<double>& probabilities) {
  double n = 0;
  for (const auto& [token, count] : observed) n += count;
  double statistic = 0, pooled_expected = 0, pooled_observed = 0;
  int bins = 0;
  for (size_t token = 0; token < probabilities.size(); ++token) {
    const double expected = n * probabilities[token];
    const auto it = observed.find(static_cast<int>(token));
    const double count = it == observed.end() ? 0 : it->second;
    if (expected < 5) {
      pooled_expected += expected;
      pooled_observed += count;
      continue;
    }
    statistic += (count - expected) * (count - expected) / expected;
    ++bins;
  }
  // Tokens outside the distribution's support count against it in the pooled bin.
  for (const auto& [token, count] : observed) {
    if (token < 0 || static_cast<size_t>(token) >= probabilities.size()) pooled_observed += count;
  }
  if (pooled_expected > 0 || pooled_observed > 0) {
    const double e = std::max(pooled_expected, 1e-9);
    statistic += (pooled_observed - e) * (pooled_observed - e) / e;
    ++bins;
  }
  return finish_chi_square(statistic, bins);
}

// Are two samples (counts per token) drawn from the same distribution? Tokens seen under 10 times in both together
// are pooled.
inline ChiSquare homogeneity(const std::map<int, int>& a, const std::map<int, int>& b) {
  std::map<int, std::pair<double, double>> table;
  for (const auto& [token, count] : a) table[token].first += count;
  for (const auto& [token, count] : b) table[token].second += count;
  double na = 0, nb = 0;
  std::vector<std::pair<double, double>> bins;
  std::pair<double, double> pooled{0, 0};
  for (const auto& [token, counts] : table) {
    na += counts.first;
    nb += counts.second;
    if (counts.first + counts.second < 10) {
      pooled.first += counts.first;
      pooled.second += counts.second;
    } else {
      bins.push_back(counts);
    }
  }
  if (pooled.first + pooled.second > 0) bins.push_back(pooled);
  double statistic = 0;
  for (const auto& [ca, cb] : bins) {
    const double total = ca + cb;
    const double ea = total * na / (na + nb), eb = total * nb / (na + nb);
    statistic += (ca - ea) * (ca - ea) / ea + (cb - eb) * (cb - eb) / eb;
  }
  return finish_chi_square(statistic, static_cast<int>(bins.size()));
}

}  // namespace ll::test
