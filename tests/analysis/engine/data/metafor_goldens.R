# Regenerates the metafor golden numbers pinned in tests/analysis/engine/*.py.
# Run: Rscript tests/analysis/engine/data/metafor_goldens.R > /tmp/goldens.txt
# Each block prints the exact R call that produced it; the tests copy the call into a
# comment beside the number. Tests never need R at run time.
suppressMessages(library(metafor))
cat("# ", R.version.string, ", metafor ", as.character(packageVersion("metafor")), "\n", sep = "")

fmt <- function(x) ifelse(is.na(x), "nan", sprintf("%.17g", x))
run <- function(name, call, fields) {
  res <- eval(parse(text = call), envir = globalenv())
  vals <- sapply(fields, function(f) eval(parse(text = f), envir = list(r = res)))
  cat("# R: ", call, "\n", sep = "")
  cat(name, " = {", paste(sprintf('"%s": %s', names(fields), fmt(vals)), collapse = ", "), "}\n", sep = "")
  invisible(res)
}
runv <- function(name, call) {
  vals <- eval(parse(text = call), envir = globalenv())
  cat("# R: ", call, "\n", sep = "")
  cat(name, " = [", paste(fmt(as.numeric(vals)), collapse = ", "), "]\n", sep = "")
}
ctl <- "control=list(threshold=1e-12, tol=1e-15, maxiter=1000)"
est <- c(estimate = "r$b[1]", se = "r$se", ci_low = "r$ci.lb", ci_high = "r$ci.ub",
         statistic = "r$zval", p = "r$pval", q = "r$QE", tau2 = "r$tau2")

normand <- dat.normand1999
normand$grp <- c(1, 1, 1, 1, 2, 2, 2, 2, 2)
md <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = normand)
smd <- escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = normand)
assign("md", md, globalenv()); assign("smd", smd, globalenv())

runv("NORMAND_MD_YI", "md$yi")
runv("NORMAND_MD_VI", "md$vi")
runv("NORMAND_SMD_EXACT_YI", "smd$yi")
runv("NORMAND_SMD_EXACT_VI", "smd$vi")
run("NORMAND_MD_FE", "rma(yi, vi, data=md, method='FE')", est)
run("NORMAND_MD_DL", "rma(yi, vi, data=md, method='DL')", est)
for (m in c("REML", "PM")) {
  run(paste0("NORMAND_MD_", m), sprintf("rma(yi, vi, data=md, method='%s', %s)", m, ctl), est)
  run(paste0("NORMAND_MD_", m, "_KNHA"), sprintf("rma(yi, vi, data=md, method='%s', test='knha', %s)", m, ctl), est)
}
run("NORMAND_MD_DL_KNHA", "rma(yi, vi, data=md, method='DL', test='knha')", est)
pi <- c(pi_low = "r$pi.lb", pi_high = "r$pi.ub")
run("NORMAND_MD_DL_PI", "predict(rma(yi, vi, data=md, method='DL'), pi.type='riley')", pi)
run("NORMAND_MD_REML_KNHA_PI", sprintf("predict(rma(yi, vi, data=md, method='REML', test='knha', %s), pi.type='riley')", ctl), pi)
run("NORMAND_MD_PM_PI", sprintf("predict(rma(yi, vi, data=md, method='PM', %s), pi.type='riley')", ctl), pi)
run("NORMAND_SMD_EXACT_DL", "rma(yi, vi, data=smd, method='DL')", est)
runv("NORMAND_MD_LOO_DL_ESTIMATE", "leave1out(rma(yi, vi, data=md, method='DL'))$estimate")
runv("NORMAND_MD_LOO_DL_CI_LOW", "leave1out(rma(yi, vi, data=md, method='DL'))$ci.lb")
runv("NORMAND_MD_LOO_DL_TAU2", "leave1out(rma(yi, vi, data=md, method='DL'))$tau2")
runv("NORMAND_MD_LOO_DL_I2", "leave1out(rma(yi, vi, data=md, method='DL'))$I2")
runv("NORMAND_MD_LOO_DL_Q", "leave1out(rma(yi, vi, data=md, method='DL'))$Q")
runv("NORMAND_MD_LOO_FE_ESTIMATE", "leave1out(rma(yi, vi, data=md, method='FE'))$estimate")
runv("NORMAND_MD_LOO_REML_TAU2", sprintf("leave1out(rma(yi, vi, data=md, method='REML', %s))$tau2", ctl))
runv("NORMAND_MD_LOO_REML_ESTIMATE", sprintf("leave1out(rma(yi, vi, data=md, method='REML', %s))$estimate", ctl))
runv("NORMAND_MD_LOO_PM_KNHA_CI_HIGH", sprintf("leave1out(rma(yi, vi, data=md, method='PM', test='knha', %s))$ci.ub", ctl))
runv("NORMAND_MD_CUMUL_DL_ESTIMATE", "cumul(rma(yi, vi, data=md, method='DL'), order=9:1)$estimate")
runv("NORMAND_MD_CUMUL_DL_TAU2", "cumul(rma(yi, vi, data=md, method='DL'), order=9:1)$tau2")
runv("NORMAND_MD_CUMUL_DL_CI_HIGH", "cumul(rma(yi, vi, data=md, method='DL'), order=9:1)$ci.ub")
egger <- c(t = "r$zval", p = "r$pval", df = "r$dfs")
run("NORMAND_MD_EGGER", "regtest(rma(yi, vi, data=md, method='FE'), model='lm', predictor='sei')", egger)
run("NORMAND_MD_EGGER_LM", "summary(lm(I(yi/sqrt(vi)) ~ I(1/sqrt(vi)), data=md))$coefficients",
    c(intercept = "r[1, 1]", se = "r[1, 2]", slope = "r[2, 1]"))
# Subgroups: grp 1 = studies 1-4, grp 2 = studies 5-9
run("NORMAND_MD_SUB1_DL", "rma(yi, vi, data=md, subset=grp==1, method='DL')", est)
run("NORMAND_MD_SUB2_DL", "rma(yi, vi, data=md, subset=grp==2, method='DL')", est)
run("NORMAND_MD_SUBTEST_FE", "rma(yi, vi, mods=~factor(grp), data=md, method='FE')",
    c(q = "r$QM", p = "r$QMp"))
run("NORMAND_MD_SUBTEST_DL",
    "with(list(f=lapply(1:2, function(g) rma(yi, vi, data=md, subset=grp==g, method='DL'))), rma(sapply(f, function(x) x$b[1]), sei=sapply(f, function(x) x$se), method='FE'))",
    c(q = "r$QE", p = "r$QEp"))

bcg <- dat.bcg
bcg$random <- as.integer(bcg$alloc == "random")
assign("bcg", bcg, globalenv())
for (m in c("OR", "RR", "RD")) {
  d <- escalc(measure = m, ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg)
  assign(paste0("bcg_", tolower(m)), d, globalenv())
  nm <- paste0("bcg_", tolower(m))
  runv(paste0("BCG_", m, "_YI"), paste0(nm, "$yi"))
  runv(paste0("BCG_", m, "_VI"), paste0(nm, "$vi"))
  run(paste0("BCG_", m, "_FE"), sprintf("rma(yi, vi, data=%s, method='FE')", nm), est)
  run(paste0("BCG_", m, "_DL"), sprintf("rma(yi, vi, data=%s, method='DL')", nm), est)
  run(paste0("BCG_", m, "_REML"), sprintf("rma(yi, vi, data=%s, method='REML', %s)", nm, ctl), est)
  run(paste0("BCG_", m, "_PM_KNHA"), sprintf("rma(yi, vi, data=%s, method='PM', test='knha', %s)", nm, ctl), est)
  run(paste0("BCG_", m, "_DL_PI"), sprintf("predict(rma(yi, vi, data=%s, method='DL'), pi.type='riley')", nm), pi)
}
mh <- c(estimate = "r$b[1]", se = "r$se", q = "r$QE", statistic = "r$zval")
run("BCG_OR_MH", "rma.mh(ai=tpos, bi=tneg, ci=cpos, di=cneg, data=bcg, measure='OR')", mh)
run("BCG_RR_MH", "rma.mh(ai=tpos, bi=tneg, ci=cpos, di=cneg, data=bcg, measure='RR')", mh)
run("BCG_RR_SUB_RANDOM_DL", "rma(yi, vi, data=bcg_rr, subset=random==1, method='DL')", est)
run("BCG_RR_SUB_OTHER_DL", "rma(yi, vi, data=bcg_rr, subset=random==0, method='DL')", est)
run("BCG_RR_SUBTEST_FE", "rma(yi, vi, mods=~factor(random), data=bcg_rr, method='FE')", c(q = "r$QM", p = "r$QMp"))
run("BCG_RR_SUBTEST_DL",
    "with(list(f=lapply(0:1, function(g) rma(yi, vi, data=bcg_rr, subset=random==g, method='DL'))), rma(sapply(f, function(x) x$b[1]), sei=sapply(f, function(x) x$se), method='FE'))",
    c(q = "r$QE", p = "r$QEp"))
run("BCG_OR_EGGER", "regtest(rma(yi, vi, data=bcg_or, method='FE'), model='lm', predictor='sei')", egger)

# Sparse data: zero cells, a double-zero study and an all-events study.
sparse <- data.frame(ai = c(0, 2, 0, 5, 12, 7), n1i = c(10, 20, 15, 25, 12, 30),
                     ci = c(3, 0, 0, 9, 10, 7), n2i = c(12, 18, 15, 26, 10, 31))
assign("sparse", sparse, globalenv())
for (m in c("OR", "RR")) {
  call <- sprintf("escalc(measure='%s', ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=sparse, add=1/2, to='only0', drop00=TRUE)", m)
  d <- eval(parse(text = call)); nm <- paste0("sparse_", tolower(m)); assign(nm, d, globalenv())
  runv(paste0("SPARSE_", m, "_YI"), paste0(nm, "$yi  # from ", call))
  runv(paste0("SPARSE_", m, "_VI"), paste0(nm, "$vi"))
  run(paste0("SPARSE_", m, "_FE"), sprintf("rma(yi, vi, data=%s, method='FE')", nm), est)
  run(paste0("SPARSE_", m, "_DL"), sprintf("rma(yi, vi, data=%s, method='DL')", nm), est)
}
# Homogeneous data (Q < df): every estimator truncates tau2 at 0.
homog <- data.frame(yi = c(0.10, 0.12, 0.09, 0.11, 0.10), vi = c(0.04, 0.05, 0.03, 0.06, 0.05))
assign("homog", homog, globalenv())
for (m in c("DL", "REML", "PM"))
  run(paste0("HOMOG_", m), sprintf("rma(yi, vi, data=homog, method='%s', %s)", m, ctl), est)

# Mantel-Haenszel RD as RevMan 5 / R meta metabin(method="MH", sm="RD", MH.exact=FALSE)
# computes it (meta itself is not installed here): K and J from the 0.5-corrected cells of a
# zero-cell study (double-zero included), RD from the observed counts.
mh_rd <- function(a, n1, c, n2) {
  b <- n1 - a; d <- n2 - c; N <- n1 + n2
  incr <- ifelse(a == 0 | b == 0 | c == 0 | d == 0, 0.5, 0)
  J <- ((a+incr)*(b+incr)*(n2+2*incr)^3 + (c+incr)*(d+incr)*(n1+2*incr)^3) /
       ((n1+2*incr)*(n2+2*incr)*(N+4*incr)^2)
  K <- (n1+2*incr)*(n2+2*incr)/(N+4*incr)
  RD <- a/n1 - c/n2
  list(est=sum(K*RD)/sum(K), se=sqrt(sum(J)/sum(K)^2), w=100*K/sum(K))
}
assign("mh_rd", mh_rd, globalenv())
run("SPARSE_RD_MH", "mh_rd(a=c(0,2,0,5,12,7), n1=c(10,20,15,25,12,30), c=c(3,0,0,9,10,7), n2=c(12,18,15,26,10,31))",
    c(estimate = "r$est", se = "r$se"))
runv("SPARSE_RD_MH_WEIGHTS", "mh_rd(a=c(0,2,0,5,12,7), n1=c(10,20,15,25,12,30), c=c(3,0,0,9,10,7), n2=c(12,18,15,26,10,31))$w")
run("BCG_RD_MH_ESTIMATE", "rma.mh(ai=tpos, bi=tneg, ci=cpos, di=cneg, data=bcg, measure='RD')", c(estimate = "r$b[1]"))
run("BCG_RD_MH_SE_GREENLAND_ROBINS",
    "with(bcg, mh_rd(a=as.numeric(tpos), n1=as.numeric(tpos+tneg), c=as.numeric(cpos), n2=as.numeric(cpos+cneg)))",
    c(se = "r$se"))
