// Finding the weights inside whatever wrapper the training code saved, and normalising their names.

/// Where the weights were found in an unpickled checkpoint, and what else it holds.
struct StateDictLocation {
    var wrapper: String
    var strippedPrefix: String?
    var tensors: [(name: String, tensor: CheckpointTensor)]
    var metadata: [(key: String, value: PickleValue)]
}

enum StateDict {
    /// Top-level keys that hold the weights, most specific first.
    static let weightKeys = ["state_dict", "model_state_dict", "model", "net", "network", "weights"]

    /// Prefix rules (prefix, replacement), applied while every key (or, for `features.module.`, any key) has it.
    static let prefixRules: [(prefix: String, replacement: String)] = [
        ("module.", ""), ("network.", ""), ("model.", ""), ("_orig_mod.", ""), ("features.module.", "features."),
    ]

    static func locate(_ root: PickleValue) -> StateDictLocation {
        var location = find(root)
        let (tensors, prefix) = stripPrefixes(location.tensors)
        location.tensors = tensors
        location.strippedPrefix = prefix
        return location
    }

    private static func find(_ root: PickleValue) -> StateDictLocation {
        if case .opaque(let name, _, _) = root, let tensors = moduleTensors(root) {
            return StateDictLocation(wrapper: "pickled \(name)", tensors: tensors, metadata: [])
        }
        guard let entries = root.dictEntries else {
            return StateDictLocation(wrapper: "none", tensors: [], metadata: [("object", root)])
        }
        let isLightning = root["pytorch-lightning_version"] != nil
            || (root["state_dict"] != nil && root["global_step"] != nil && root["optimizer_states"] != nil)
        for key in weightKeys {
            guard let value = root[key] else { continue }
            var tensors = dictTensors(value)
            var wrapper = key
            if tensors.isEmpty, let moduleTensors = moduleTensors(value), let name = value.opaqueClassName {
                tensors = moduleTensors
                wrapper = "\(key) (pickled \(name))"
            }
            guard !tensors.isEmpty else { continue }
            if isLightning && key == "state_dict" { wrapper = "lightning" }
            return StateDictLocation(wrapper: wrapper, tensors: tensors,
                                     metadata: otherEntries(entries, excluding: key))
        }
        let tensors = dictTensors(root)
        if !tensors.isEmpty {
            return StateDictLocation(wrapper: "bare", tensors: tensors,
                                     metadata: entries.compactMap { e in
                                         guard case .tensor = e.value else { return (keyString(e.key), e.value) }
                                         return nil
                                     })
        }
        return StateDictLocation(wrapper: "none", tensors: [], metadata: otherEntries(entries, excluding: nil))
    }

    private static func keyString(_ key: PickleValue) -> String {
        if let s = key.stringValue { return s }
        if let i = key.intValue { return String(i) }
        return "\(key)"
    }

    private static func otherEntries(_ entries: [(key: PickleValue, value: PickleValue)], excluding: String?)
        -> [(key: String, value: PickleValue)] {
        entries.compactMap { e in e.key.stringValue == excluding && excluding != nil ? nil : (keyString(e.key), e.value) }
    }

    /// The string-keyed tensors of a dict, in order.
    private static func dictTensors(_ value: PickleValue) -> [(name: String, tensor: CheckpointTensor)] {
        guard let entries = value.dictEntries else { return [] }
        return entries.compactMap { e in
            guard let name = e.key.stringValue, case .tensor(let t) = e.value else { return nil }
            return (name, t)
        }
    }

    /// The parameters and buffers of a pickled nn.Module (its `_parameters`, `_buffers`, `_modules`), or nil.
    private static func moduleTensors(_ module: PickleValue) -> [(name: String, tensor: CheckpointTensor)]? {
        guard case .opaque(_, _, let state?) = module, state["_modules"] != nil || state["_parameters"] != nil else {
            return nil
        }
        var out: [(name: String, tensor: CheckpointTensor)] = []
        var stack: [(prefix: String, module: PickleValue)] = [("", module)]
        var visited = 0
        while let (prefix, m) = stack.popLast(), visited < 100_000 {
            visited += 1
            guard case .opaque(_, _, let state?) = m else { continue }
            for field in ["_parameters", "_buffers"] {
                for (name, tensor) in dictTensors(state[field] ?? .none) { out.append((prefix + name, tensor)) }
            }
            if let children = state["_modules"]?.dictEntries {
                for child in children.reversed() {
                    if let name = child.key.stringValue { stack.append((prefix + name + ".", child.value)) }
                }
            }
        }
        return out
    }

    /// Strips wrapper prefixes (DataParallel's `module.`, DGMS's `network.`, ...) while names stay unique.
    static func stripPrefixes(_ tensors: [(name: String, tensor: CheckpointTensor)])
        -> ([(name: String, tensor: CheckpointTensor)], String?) {
        var current = tensors
        var stripped = ""
        var changed = true
        while changed && !current.isEmpty {
            changed = false
            for rule in prefixRules {
                let applies = rule.replacement.isEmpty
                    ? current.allSatisfy { $0.name.hasPrefix(rule.prefix) && $0.name.count > rule.prefix.count }
                    : current.contains { $0.name.hasPrefix(rule.prefix) }
                guard applies else { continue }
                let renamed = current.map { t -> (name: String, tensor: CheckpointTensor) in
                    t.name.hasPrefix(rule.prefix) ? (rule.replacement + t.name.dropFirst(rule.prefix.count), t.tensor) : t
                }
                guard Set(renamed.map(\.name)).count == renamed.count else { continue }
                current = renamed
                stripped += rule.prefix
                changed = true
                break
            }
        }
        return (current, stripped.isEmpty ? nil : stripped)
    }
}
