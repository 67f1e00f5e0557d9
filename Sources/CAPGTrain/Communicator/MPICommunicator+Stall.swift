import CMPI
import Foundation

/// The stall inspector: waiting for a non-blocking collective against a deadline, and
/// naming the ranks that did not arrive when it passes.
///
/// Protocol (only on the failure path, so it costs nothing in a healthy job): the rank whose
/// deadline passed sends "where are you?" (tag `query`) to every other rank on `probeComm`;
/// every rank that is itself waiting in a collective looks for such queries every 50 ms and
/// answers with its collective number and activity (tag `reply`). After
/// `stall.diagnosisSeconds` the ranks that did not answer are the ones that never reached a
/// collective (stopped, wedged, or computing far longer than the others). Then the rank
/// prints the report and calls `MPI_Abort`, which ends every rank, stopped ones included
/// (mpirun kills them with SIGKILL). Every rank whose deadline passes does the same; the
/// first abort wins. Cost on that path: P − 1 queries and answers per rank that gives up.
extension MPICommunicator {
    private enum Tag { static let query: Int32 = 7001, reply: Int32 = 7002 }
    /// Reply layout: 8 bytes collective number (little-endian Int64), then the activity text.
    private static let replyBytes = 256

    static func monotonicSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    /// Waits for `request`. Returns when it completed; never returns when the deadline (or the
    /// stop grace after a stop signal) passes: the job is aborted with a report instead.
    /// Spins on `MPI_Test` (what a blocking collective does too), yielding the core after
    /// 2 ms so an oversubscribed node is not starved, and looks at the clock, the stop flag and
    /// incoming queries every 50 ms.
    func complete(_ request: inout MPI_Request?, collective: @autoclosure () -> String) {
        sequence += 1
        var flag: Int32 = 0
        _ = MPI_Test(&request, &flag, capg_mpi_status_ignore())
        if flag != 0 { return }
        let start = Self.monotonicSeconds()
        var deadline = stall.timeout > 0 ? start + stall.timeout : Double.infinity
        var nextLook = start + 0.05
        var stopSeen = false
        var spins = 0
        while true {
            _ = MPI_Test(&request, &flag, capg_mpi_status_ignore())
            if flag != 0 { return }
            spins &+= 1
            guard spins & 63 == 0 else { continue }
            let now = Self.monotonicSeconds()
            if now - start > 0.002 { sched_yield() }
            guard now >= nextLook else { continue }
            nextLook = now + 0.05
            answerQueries()
            if !stopSeen && stopRequested() {
                stopSeen = true
                deadline = min(deadline, now + stall.stopGrace)
            }
            if now >= deadline {
                giveUp(collective: collective(), waited: now - start, stopRequested: stopSeen)
            }
        }
    }

    /// Answers every pending "where are you?" with this rank's collective number and activity.
    func answerQueries() {
        var flag: Int32 = 0
        var status = MPI_Status()
        while true {
            _ = MPI_Iprobe(capg_mpi_any_source(), Tag.query, probeComm, &flag, &status)
            guard flag != 0 else { return }
            let source = capg_mpi_status_source(&status)
            var asked: Int64 = 0
            _ = MPI_Recv(&asked, 1, capg_mpi_int64(), source, Tag.query, probeComm, capg_mpi_status_ignore())
            var reply = [UInt8](repeating: 0, count: Self.replyBytes)
            withUnsafeBytes(of: Int64(sequence).littleEndian) { for i in 0..<8 { reply[i] = $0[i] } }
            for (i, byte) in activity.utf8.prefix(Self.replyBytes - 9).enumerated() { reply[8 + i] = byte }
            // The asker is alive and polling: a small blocking send completes at once.
            _ = MPI_Send(&reply, Int32(Self.replyBytes), capg_mpi_byte(), source, Tag.reply, probeComm)
        }
    }

    /// Asks every other rank where it is, waits `stall.diagnosisSeconds` for answers, prints
    /// the report and aborts the job.
    private func giveUp(collective: String, waited: Double, stopRequested: Bool) -> Never {
        // The query buffer must outlive the non-blocking sends, which are never waited for
        // (a stopped rank never receives them); the job ends right after.
        let query = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
        query.pointee = Int64(sequence)
        for r in 0..<size where r != rank {
            var request: MPI_Request? = capg_mpi_request_null()
            _ = MPI_Isend(query, 1, capg_mpi_int64(), Int32(r), Tag.query, probeComm, &request)
            _ = MPI_Request_free(&request)
        }
        var answered: [(rank: Int, sequence: Int, activity: String)] = []
        var heard = Set<Int>()
        let end = Self.monotonicSeconds() + stall.diagnosisSeconds
        var buffer = [UInt8](repeating: 0, count: Self.replyBytes)
        while heard.count < size - 1 && Self.monotonicSeconds() < end {
            answerQueries()
            var flag: Int32 = 0
            var status = MPI_Status()
            _ = MPI_Iprobe(capg_mpi_any_source(), Tag.reply, probeComm, &flag, &status)
            if flag == 0 { usleep(1000); continue }
            let source = Int(capg_mpi_status_source(&status))
            _ = MPI_Recv(&buffer, Int32(Self.replyBytes), capg_mpi_byte(), Int32(source), Tag.reply, probeComm,
                         capg_mpi_status_ignore())
            let seq = buffer.withUnsafeBytes { Int(Int64(littleEndian: $0.loadUnaligned(as: Int64.self))) }
            let text = String(decoding: buffer[8...].prefix { $0 != 0 }, as: UTF8.self)
            if heard.insert(source).inserted { answered.append((source, seq, text)) }
        }
        let missing = (0..<size).filter { $0 != rank && !heard.contains($0) }
        let report = StallReport(rank: rank, size: size, activity: activity, collective: collective, sequence: sequence,
                                 waitedSeconds: waited, answered: answered.sorted { $0.rank < $1.rank }, missing: missing,
                                 stopRequested: stopRequested, timeout: stall.timeout)
        let code = stopRequested ? stall.stoppedExitCode : stall.stalledExitCode
        FileHandle.standardError.write(Data("capg: rank \(rank) of \(size): stall: \(report) (exit \(code))\n".utf8))
        onGiveUp?(report, code)
        MPI_Abort(comm, code)
        exit(code)
    }
}
