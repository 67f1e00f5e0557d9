/// The version capg reports in checkpoints and to external scorers.
public enum CapgVersion {
    public static let string = "capg 0.1.0"
}
