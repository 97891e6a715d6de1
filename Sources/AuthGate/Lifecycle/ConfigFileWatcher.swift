import AuthGateCore
import Logging
import ServiceLifecycle

/// Reloads the configuration when the file's content changes (`reload.watch_file`).
///
/// The file is polled rather than watched with inotify: polling works the same on every
/// platform, through symlink swaps (Kubernetes ConfigMaps) and on network filesystems, and at
/// one small read per second it costs nothing measurable. A change must read the same twice,
/// 50 ms apart, so a file caught half-written by an editor is not reported as broken. The
/// interval and the switch are read from the current snapshot on every round, so a reload can
/// turn watching off or change its pace. It runs as a service of the gateway's group until the
/// graceful shutdown reaches it.
struct ConfigFileWatcher: Service, CustomStringConvertible {
    let gateway: Gateway
    let path: String
    let logger: Logger

    var description: String { "ConfigFileWatcher" }

    func run() async {
        await cancelWhenGracefulShutdown { await self.watch() }
    }

    private func watch() async {
        var seen = Self.read(self.path)
        while !Task.isCancelled {
            let settings = self.gateway.configStore.current.config.reload
            do {
                try await Task.sleep(for: .milliseconds(settings.watchIntervalMs))
            } catch {
                return
            }
            guard settings.watchFile else { continue }
            let now = Self.read(self.path)
            guard now != seen else { continue }
            try? await Task.sleep(for: .milliseconds(50))
            let settled = Self.read(self.path)
            guard settled == now else { continue }
            seen = settled
            guard settled != nil else {
                self.logger.warning(
                    "configuration file unreadable; keeping the running one",
                    metadata: ["file": "\(self.path)"]
                )
                continue
            }
            self.logger.info("configuration file changed: reloading", metadata: ["file": "\(self.path)"])
            _ = try? self.gateway.reloadFromFile()
        }
    }

    private static func read(_ path: String) -> String? {
        ConfigLoader.fileContent(path)
    }
}
