/// Labels in messages: integers without a decimal point ("4", not "4.0"), others as `%g`.
public enum LabelText {
    public static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)"
    }
}
