/// Settings of the rollout that contradict each other: the config is valid and runs, but it
/// does not do what the operator who wrote it probably meant. `authgate check-config` prints
/// them as warnings (exit status 0).
public enum RolloutWarnings {
    /// The warnings for `config` (one sentence each, naming the keys), empty when consistent.
    public static func warnings(for config: GatewayConfig) -> [String] {
        let percent = config.rollout.betterAuthRolloutPercent
        var warnings: [String] = []
        switch (config.auth.enableDualAuth, config.auth.preferBetterAuth) {
        case (false, true) where percent < 100:
            warnings.append(
                "rollout.better_auth_rollout_percent is \(percent), but auth.enable_dual_auth: false with prefer_better_auth: true is phase 4 (Better Auth only): legacy tokens are refused, so the flags endpoint tells every client to use Better Auth and the percentage is ignored; set it to 100, or auth.enable_dual_auth: true to stay in phase 3"
            )
        case (true, false) where percent > 0 && percent < 100:
            warnings.append(
                "rollout.better_auth_rollout_percent is \(percent), but auth.prefer_better_auth: false is phase 1 (infrastructure): the flags endpoint sends no client to Better Auth yet and the percentage is ignored; set prefer_better_auth: true (phase 2) for a partial rollout"
            )
        case (false, false) where percent > 0 && percent < 100:
            warnings.append(
                "rollout.better_auth_rollout_percent is \(percent), but both flags false is the rollback: Better Auth is refused, the flags endpoint sends every client to legacy and the percentage is ignored"
            )
        default:
            break
        }
        return warnings
    }
}
