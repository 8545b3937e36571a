import ArgumentParser
import Foundation
import SMCClient

#if canImport(Glibc)
import Glibc
#endif

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send local changes, then fetch the server's until caught up.",
        discussion: """
            Safe to interrupt at any point and run again. Exit codes: 0 synced, 2 authentication (sign in again),
            3 network (the server could not be reached, after retries), 4 refused by the server, 6 the client home
            cannot be used.
            """)

    @OptionGroup var homeOptions: HomeOptions
    @Option(help: "Changes per page (1–10000).") var pageSize = 500
    @Option(help: "Attempts per request before giving up on a transient failure.") var attempts = 5
    @Flag(help: "Print a JSON report.") var json = false

    func validate() throws {
        guard (1...10_000).contains(pageSize) else { throw ValidationError("--page-size must be 1–10000") }
        guard (1...20).contains(attempts) else { throw ValidationError("--attempts must be 1–20") }
    }

    func run() async throws {
        let store = try homeOptions.store()
        let terminal = isatty(STDERR_FILENO) == 1 && !json
        let engine = try SyncEngine.forStore(store, pageSize: pageSize, attempts: attempts)
        let report: SyncReport
        do {
            report = try await engine.run { progress in
                guard !json else { return }
                let line: String
                switch progress.phase {
                case .push: line = "push  \(progress.pushed)/\(progress.toPush) change(s) sent"
                case .pull: line = "pull  \(progress.pulled) change(s) received in \(progress.pages) page(s)"
                }
                if terminal {
                    let width = 24
                    let done = progress.phase == .push && progress.toPush > 0 ? width * progress.pushed / progress.toPush : (progress.pages % (width + 1))
                    let bar = String(repeating: "#", count: done) + String(repeating: ".", count: width - done)
                    FileHandle.standardError.write(Data("\r[\(bar)] \(line)\u{1B}[K".utf8))
                } else {
                    FileHandle.standardError.write(Data("\(line)\n".utf8))
                }
            }
        } catch {
            // The failure's message goes on a line of its own, after the progress bar.
            if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
            throw error
        }
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
        if json {
            try Output.json(report)
        } else {
            print("synced: \(report.applied) change(s) sent (\(report.duplicates) already there), \(report.pulled) received in \(report.pages) page(s)"
                  + (report.resets.isEmpty ? "" : "; re-downloaded \(report.resets.joined(separator: ", "))"))
            for r in report.rejected {
                print("refused: \(r.op) \(r.entity) \(r.entityID): \(r.code): \(r.reason)")
            }
        }
    }
}
