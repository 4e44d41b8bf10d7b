// The preprocessing and label lists the architecture families default to (qconvert's --input-size,
// --mean, --std, --resize and --labels override them).
import QGraph

extension Preprocessing {
    /// 32x32 RGB, ImageNet mean/std: what akamaster's CIFAR ResNets were trained with.
    static let cifarImageNetStats = Preprocessing(inputSize: [32, 32], channels: 3,
                                                  mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    /// 32x32 RGB with the CIFAR-10 statistics of kuangliu/pytorch-cifar (and the training code of Equal Bits,
    /// DGMS and DeepShift): mean (0.4914, 0.4822, 0.4465), std (0.2023, 0.1994, 0.2010).
    static let cifarStats = Preprocessing(inputSize: [32, 32], channels: 3,
                                          mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.2010])
    /// torchvision ImageNet evaluation on PIL images: resize 256 (PIL bilinear, antialiased), center crop 224,
    /// ImageNet mean/std.
    static let imageNet = Preprocessing(inputSize: [224, 224], channels: 3,
                                        mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 256,
                                        antialias: true)
}

/// Built-in label lists.
enum Labels {
    static let cifar10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    static let fashionMNIST = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                               "Sneaker", "Bag", "Ankle boot"]
    static func numbered(_ n: Int) -> [String] { (0..<n).map { "class \($0)" } }
    /// CIFAR-10's names for a 10-class CIFAR network, else numbered.
    static func cifar(_ classes: Int) -> [String] { classes == 10 ? cifar10 : numbered(classes) }
}
