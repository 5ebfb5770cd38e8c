{% autoescape off %}# {{ review.title }}
# Outcome: {{ outcome.name }} ({{ time_point }}); {{ outcome.get_effect_measure_display }}
# Reproduces the living review's pooled result for this outcome (results of data version
# {{ computed_version }}) with metafor, from the review's extracted data (data.csv).
{% if expected %}# The site reports: {{ expected.effect }}, I² = {{ expected.i2 }}, {{ expected.model }} effect(s) model.
{% endif %}#
# Settings: model rule "{{ model_rule }}" (random effects when I² >= {{ review.i2_threshold|floatformat:"-1" }}%),
# tau² estimator {{ review.tau2_estimator }}, Hartung-Knapp {{ review.hartung_knapp|yesno:"on,off" }}, {{ level|floatformat:"-1" }}% CIs.
{% if r_measure == "SMD" %}#
# NOTE: RevMan's SMD differs from metafor's escalc(measure = "SMD") by design. RevMan (and this
# site) uses Hedges' g with the approximate correction 1 - 3/(4N - 9) and the variance
# 1/n1 + 1/n2 + g^2 / (2 (N - 3.94)); escalc uses the exact correction factor and the large-sample
# variance 1/n1 + 1/n2 + g^2 / (2N). The script computes RevMan's version below so the numbers
# match the site; set use_revman_smd <- FALSE to see escalc's (differences in the 2nd-3rd decimal).
{% endif %}
library(metafor)

# Read the CSV downloaded from the review page (or straight from the site):
csv <- if (file.exists("data.csv")) "data.csv" else "{{ csv_url }}"
d <- read.csv(csv, stringsAsFactors = FALSE)
d <- d[d$outcome == "{{ outcome.name|escapejs }}" & d$time_point == "{{ time_point|escapejs }}" &
       d$included_in_analysis == "yes", ]

{% if generic %}# Generic inverse variance: each study's entered estimate{% if outcome.log_scale %} (the natural log of the ratio){% endif %} and SE.
d <- d[d$arm_role == "", ]
dat <- data.frame(study = d$study, yi = d$estimate, vi = d$se^2, stringsAsFactors = FALSE)
{% else %}# Several arms of one role are combined first, as the site does
{% if dichotomous %}# (events and totals added: Cochrane Handbook 23.3.4).
combine <- function(x) data.frame(study = x$study[1], events = sum(x$events), total = sum(x$total))
{% else %}# (Cochrane Handbook 6.5.2.10, Table 6.5.a).
combine <- function(x) {
  n <- x$n[1]; m <- x$mean[1]; s <- x$sd[1]
  if (nrow(x) > 1) for (i in 2:nrow(x)) {
    N <- n + x$n[i]
    M <- (n * m + x$n[i] * x$mean[i]) / N
    s <- sqrt(((n - 1) * s^2 + (x$n[i] - 1) * x$sd[i]^2 + n * x$n[i] / N * (m - x$mean[i])^2) / (N - 1))
    n <- N; m <- M
  }
  data.frame(study = x$study[1], n = n, mean = m, sd = s)
}
{% endif %}arm <- function(role) {
  rows <- d[d$arm_role == role, ]
  do.call(rbind, lapply(split(rows, rows$study), combine))
}
dat <- merge(arm("intervention"), arm("control"), by = "study", suffixes = c("1", "2"))
{% endif %}
{% if generic %}# Fixed effect: inverse variance.
fe <- rma(yi, vi, data = dat, method = "FE", level = {{ level|floatformat:"-1" }})
{% elif r_measure == "PETO" %}# Peto's one-step odds ratio (no zero-cell correction), fixed effect only, as RevMan.
dat <- escalc(measure = "PETO", ai = events1, n1i = total1, ci = events2, n2i = total2, data = dat, add = 0)
fe <- rma.peto(ai = events1, n1i = total1, ci = events2, n2i = total2, data = dat, level = {{ level|floatformat:"-1" }})
{% elif dichotomous %}dat <- escalc(measure = "{{ r_measure }}", ai = events1, n1i = total1, ci = events2, n2i = total2, data = dat)
# Fixed effect: Mantel-Haenszel, as RevMan.
fe <- rma.mh(measure = "{{ r_measure }}", ai = events1, n1i = total1, ci = events2, n2i = total2, data = dat,
             level = {{ level|floatformat:"-1" }})
{% else %}dat <- escalc(measure = "{{ r_measure }}", m1i = mean1, sd1i = sd1, n1i = n1, m2i = mean2, sd2i = sd2, n2i = n2,
              data = dat{% if outcome.effect_measure == "SMD_EXACT" %}, vtype = "UB"{% endif %})
{% if r_measure == "SMD" and outcome.effect_measure == "SMD" %}use_revman_smd <- TRUE
if (use_revman_smd) {
  N <- dat$n1 + dat$n2
  s_pooled <- sqrt(((dat$n1 - 1) * dat$sd1^2 + (dat$n2 - 1) * dat$sd2^2) / (N - 2))
  dat$yi <- (dat$mean1 - dat$mean2) / s_pooled * (1 - 3 / (4 * N - 9))
  dat$vi <- 1 / dat$n1 + 1 / dat$n2 + dat$yi^2 / (2 * (N - 3.94))
}
{% endif %}# Fixed effect: inverse variance.
fe <- rma(yi, vi, data = dat, method = "FE", level = {{ level|floatformat:"-1" }})
{% endif %}re <- rma(yi, vi, data = dat, method = "{{ review.tau2_estimator }}", test = "{% if review.hartung_knapp %}knha{% else %}z{% endif %}",
          level = {{ level|floatformat:"-1" }})

# I² from Cochran's Q of the fixed-effect analysis, as RevMan reports it.
i2 <- if (fe$k > 1) max(0, (fe$QE - (fe$k - 1)) / fe$QE) * 100 else NA
rule <- "{{ model_rule }}"
res <- if (rule == "random" || (rule == "auto" && !is.na(i2) && i2 >= {{ review.i2_threshold|floatformat:"-1" }})) re else fe
cat(sprintf("Model: %s; I2 = %.0f%%\n", if (identical(res, re)) "random" else "fixed", i2))
print(res)
{% if r_measure == "OR" or r_measure == "RR" or r_measure == "PETO" or outcome.log_scale %}predict(res, transf = exp)  # on the ratio scale, as the site shows it
{% endif %}{% if subgroups %}
# Subgroups: each subgroup pooled with the model chosen above (random effects use each subgroup's
# own tau²); the test for subgroup differences is Cochran's Q of the subgroup
# estimates with weights 1/SE² (df = number of subgroups - 1), as RevMan reports it.
random_model <- identical(res, re)
pool <- function(x) {
  if (random_model) return(rma(yi, vi, data = x, method = "{{ review.tau2_estimator }}",
                               test = "{% if review.hartung_knapp %}knha{% else %}z{% endif %}", level = {{ level|floatformat:"-1" }}))
{% if r_measure == "PETO" %}  rma.peto(ai = events1, n1i = total1, ci = events2, n2i = total2, data = x, level = {{ level|floatformat:"-1" }})
{% elif dichotomous %}  rma.mh(measure = "{{ r_measure }}", ai = events1, n1i = total1, ci = events2, n2i = total2, data = x,
         level = {{ level|floatformat:"-1" }})
{% else %}  rma(yi, vi, data = x, method = "FE", level = {{ level|floatformat:"-1" }})
{% endif %}}
subgroup_test <- function(fits) {
  estimates <- sapply(fits, function(f) f$b[1])
  ses <- sapply(fits, function(f) f$se)
  rma(yi = estimates, sei = ses, method = "FE")
}
{% for name, members in subgroups %}
# By {{ name }}:
groups <- data.frame(
  study = c({% for study, group in members %}"{{ study|escapejs }}"{% if not forloop.last %}, {% endif %}{% endfor %}),
  subgroup = c({% for study, group in members %}"{{ group|escapejs }}"{% if not forloop.last %}, {% endif %}{% endfor %}),
  stringsAsFactors = FALSE)
fits <- lapply(split(merge(dat, groups, by = "study"), ~ subgroup), pool)
for (g in names(fits)) cat(sprintf("{{ name|escapejs }} = %s: %.4f [%.4f, %.4f], k = %d\n", g, fits[[g]]$b[1],
                                   fits[[g]]$ci.lb, fits[[g]]$ci.ub, fits[[g]]$k))
if (length(fits) > 1) {
  difference <- subgroup_test(fits)
  cat(sprintf("Test for subgroup differences ({{ name|escapejs }}): Chi2 = %.2f, df = %d (P = %.4f)\n",
              difference$QE, difference$k - 1, difference$QEp))
}
{% endfor %}{% endif %}{% endautoescape %}
